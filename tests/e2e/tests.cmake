# End-to-end tests of the CLI (bash scripts; exit 77 = skipped).
foreach(script sigterm_resume kill_rank quickstart bench_ranks bench_convert_neuronio prep_interrupt hostile_pickle
               interrupt_random one_writer_train one_writer_sweep store_failures packed_sweep mpi_errors
               suite_sweep kill_after_done)
  add_test(NAME e2e.${script} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/${script}.sh)
  set_tests_properties(e2e.${script} PROPERTIES
    ENVIRONMENT "ELMRUN=$<TARGET_FILE:elmrun>;ELM_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
    SKIP_RETURN_CODE 77 TIMEOUT 300 PROCESSORS 2)
endforeach()

# Every shell block of README.md and docs/*.md, in a scratch copy of the tree
# (tests/e2e/doc_commands.py; ELM_DOC_SIZE=full runs them at their documented
# sizes), and the same runner on blocks made to fail.
add_test(NAME e2e.doc_commands COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/e2e/doc_commands.py)
add_test(NAME e2e.doc_commands_fail COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/doc_commands_fail.sh)
set_tests_properties(e2e.doc_commands e2e.doc_commands_fail PROPERTIES
  ENVIRONMENT "ELMRUN=$<TARGET_FILE:elmrun>;ELM_SOURCE_DIR=${CMAKE_SOURCE_DIR};PYTHONDONTWRITEBYTECODE=1"
  SKIP_RETURN_CODE 77 TIMEOUT 600 PROCESSORS 2)
