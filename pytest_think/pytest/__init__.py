"""The pytest layer: hooks (plugin), the session's boards, the recording of results, fixtures.

``pytest_think.pytest.plugin`` is the ``pytest11`` entry point; ``hookspecs`` are the hooks
other plug-ins implement.
"""
