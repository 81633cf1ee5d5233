"""The router tests reuse the classifier fixtures (small real trace, tiny local model)."""

from tests.classify.conftest import _one_blas_thread, small_trace, static_cache, tiny_model  # noqa: F401
