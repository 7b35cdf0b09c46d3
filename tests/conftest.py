"""Hypothesis profiles: `ci` bounds the example count so `make test` stays within minutes; `thorough` hunts;
`explicit` runs only the @example cases (what the fixed corpus, formula rows included, costs)."""
import os

from hypothesis import HealthCheck, Phase, settings

settings.register_profile("ci", max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explicit", phases=[Phase.explicit], deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
