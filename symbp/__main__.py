"""python -m symbp."""
from .cli import main

raise SystemExit(main())
