# Slurm submission (slurm/) end to end on a real single-node Slurm that the
# suite starts itself (scripts/slurm_box.sh): slurm.start sets it up, the
# tests need it, slurm.stop tears it down even when a test fails and checks
# that nothing is left running. The tests share one box and the 2 CPUs, so
# they hold one resource lock. Exit 77 (skip) where slurmctld is not installed.
string(MD5 _elm_slurm_hash "${CMAKE_BINARY_DIR}")
string(SUBSTRING "${_elm_slurm_hash}" 0 8 _elm_slurm_hash)
set(ELM_SLURM_STATE "/tmp/elmslurm-${_elm_slurm_hash}")  # short: the munge socket lives there
set(_elm_slurm_env
    "ELMRUN=$<TARGET_FILE:elmrun>;ELM_SOURCE_DIR=${CMAKE_SOURCE_DIR};ELM_SLURM_STATE=${ELM_SLURM_STATE}")

add_test(NAME slurm.start COMMAND bash ${CMAKE_SOURCE_DIR}/scripts/slurm_box.sh start ${ELM_SLURM_STATE})
set_tests_properties(slurm.start PROPERTIES FIXTURES_SETUP slurm_box RESOURCE_LOCK slurm_box
  SKIP_RETURN_CODE 77 TIMEOUT 60)
add_test(NAME slurm.stop COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/slurm/stop.sh ${ELM_SLURM_STATE}
  $<TARGET_FILE:elmrun>)
set_tests_properties(slurm.stop PROPERTIES FIXTURES_CLEANUP slurm_box RESOURCE_LOCK slurm_box TIMEOUT 60)

foreach(script array mpi preempt_requeue only_missing interrupt_random same_index runs_per_task
    runs_per_task_requeue)
  add_test(NAME slurm.${script} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/slurm/${script}.sh)
  set_tests_properties(slurm.${script} PROPERTIES FIXTURES_REQUIRED slurm_box RESOURCE_LOCK slurm_box
    ENVIRONMENT "${_elm_slurm_env}" SKIP_RETURN_CODE 77 TIMEOUT 180 PROCESSORS 2)
endforeach()
# 3,000 runs one after another in 12 tasks, 2 at a time: 82-143 s measured on 2 cores (the
# longer ones with a load of 5-8 from other work).
set_tests_properties(slurm.runs_per_task PROPERTIES TIMEOUT 300)

# submit.py's dry runs and errors need no cluster (the limits cases list a 3,000-run sweep several
# times: 60-80 s measured on 2 busy cores).
add_test(NAME slurm.submit_cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/slurm/submit_cli.sh)
set_tests_properties(slurm.submit_cli PROPERTIES ENVIRONMENT "${_elm_slurm_env}" TIMEOUT 180)
