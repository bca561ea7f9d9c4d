# The multi-host claims on a real cluster the suite starts itself
# (scripts/slurm_cluster.sh: a controller and 3 compute hosts, each in its own
# network namespace with its own address, hostname, slurmd and spool):
# multinode.start sets it up, multinode.stop tears it down even when a test
# fails and checks that no namespace, link or daemon is left. The tests share
# the cluster, so they hold one resource lock; each leaves every host up.
# Exit 77 (skip) where Slurm is not installed or namespaces cannot be made.
string(MD5 _elm_mn_hash "${CMAKE_BINARY_DIR}")
string(SUBSTRING "${_elm_mn_hash}" 0 8 _elm_mn_hash)
set(ELM_CLUSTER_STATE "/tmp/elmmn-${_elm_mn_hash}")  # short: the munge socket lives there
set(_elm_mn_env "ELMRUN=$<TARGET_FILE:elmrun>;ELM_SOURCE_DIR=${CMAKE_SOURCE_DIR};ELM_CLUSTER_STATE=${ELM_CLUSTER_STATE}")

add_test(NAME multinode.start COMMAND bash ${CMAKE_SOURCE_DIR}/scripts/slurm_cluster.sh start ${ELM_CLUSTER_STATE} 3)
set_tests_properties(multinode.start PROPERTIES FIXTURES_SETUP multinode_cluster RESOURCE_LOCK multinode_cluster
  SKIP_RETURN_CODE 77 TIMEOUT 60 LABELS multinode)
add_test(NAME multinode.stop COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/multinode/stop.sh ${ELM_CLUSTER_STATE})
set_tests_properties(multinode.stop PROPERTIES FIXTURES_CLEANUP multinode_cluster RESOURCE_LOCK multinode_cluster
  TIMEOUT 60 LABELS multinode)

foreach(script mpi_sweep data_parallel array partition host_dies_sweep host_dies_dp)
  add_test(NAME multinode.${script} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/multinode/${script}.sh)
  set_tests_properties(multinode.${script} PROPERTIES FIXTURES_REQUIRED multinode_cluster
    RESOURCE_LOCK multinode_cluster ENVIRONMENT "${_elm_mn_env}" SKIP_RETURN_CODE 77 TIMEOUT 300 LABELS multinode)
endforeach()
