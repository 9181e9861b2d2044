"""The checks: one module per clause family, one test function per catalogue id.

Run them with `pytest --pyargs conformance --backend NAME` or `optimum-conformance run NAME`.
"""
