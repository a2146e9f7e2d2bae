# The Python client (clients/python) against a real memoryd: its pytest suite,
# LangGraph's checkpointer conformance suite (langgraph-checkpoint-conformance)
# included, once with Redis primary and once with PostgreSQL primary.
# scripts/test builds the virtual environment from requirements.txt and requirements-test.txt.
set(MEMORYD_PY_ENV env PYTHONPATH=${PROJECT_SOURCE_DIR}/clients/python/src PYTHONDONTWRITEBYTECODE=1)
set(MEMORYD_PY_TEST ${CMAKE_BINARY_DIR}/venv-python/bin/python -m pytest -p no:cacheprovider -q -rfEs
    --rootdir=${PROJECT_SOURCE_DIR}/clients/python ${PROJECT_SOURCE_DIR}/clients/python/tests)

add_test(NAME python_client
         COMMAND ${MEMORYD_PY_ENV} ${PROJECT_SOURCE_DIR}/tests/with-memoryd.sh ${MEMORYD_PY_TEST})
add_test(NAME pg_python_client
         COMMAND ${MEMORYD_PY_ENV} CONV_STORE_PRIMARY=postgres
                 ${PROJECT_SOURCE_DIR}/tests/with-memoryd.sh ${MEMORYD_PY_TEST})
set_tests_properties(python_client pg_python_client PROPERTIES LABELS python TIMEOUT 900)

# The package is typed (py.typed): mypy checks it as a user's type checker would.
add_test(NAME python_client_types
         COMMAND ${CMAKE_BINARY_DIR}/venv-python/bin/python -m mypy --ignore-missing-imports
                 --cache-dir=${CMAKE_BINARY_DIR}/mypy-cache ${PROJECT_SOURCE_DIR}/clients/python/src/memoryd)
set_tests_properties(python_client_types PROPERTIES LABELS python TIMEOUT 300)
