# analysis/collect.py and analysis/report.py (pytest; fixture sweeps come from the built elmrun).
add_test(NAME analysis.pytest
         COMMAND /usr/bin/python3 -m pytest -q -p no:cacheprovider ${CMAKE_SOURCE_DIR}/analysis/tests)
set_tests_properties(analysis.pytest PROPERTIES
                     ENVIRONMENT "ELMRUN=$<TARGET_FILE:elmrun>;PYTHONDONTWRITEBYTECODE=1"
                     TIMEOUT 300)
