# The include graph of src/ follows the layering (tests/layering/check_includes.py
# holds the allowed table); the self-test shows the check fails on a bad include.
add_test(NAME layering.includes COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/check_includes.py
         ${CMAKE_SOURCE_DIR}/src)
add_test(NAME layering.self_test COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/check_includes.py --self-test)
set_tests_properties(layering.includes layering.self_test PROPERTIES
                     ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1" TIMEOUT 60)
