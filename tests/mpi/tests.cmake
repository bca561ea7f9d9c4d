# MPI tests: one gtest binary run under mpirun with 1, 2 and 4 ranks
# (platform-notes.md: as root mpirun needs the two OMPI_ALLOW variables, and
# more ranks than cores needs --oversubscribe).
add_executable(elm_mpi_tests ${CMAKE_CURRENT_SOURCE_DIR}/mpi/test_data_parallel.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/mpi/test_sweep_schedule.cpp ${CMAKE_CURRENT_SOURCE_DIR}/mpi/test_node_ranks.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/mpi/mpi_test_main.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_support.cpp)
target_include_directories(elm_mpi_tests PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit ${CMAKE_CURRENT_SOURCE_DIR}/mpi)
target_link_libraries(elm_mpi_tests PRIVATE elm elm_mpi GTest::gtest)
target_compile_definitions(elm_mpi_tests PRIVATE ELM_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
if(TARGET elm_nccl)
  target_sources(elm_mpi_tests PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/mpi/test_nccl_comm.cpp)
  target_link_libraries(elm_mpi_tests PRIVATE elm_nccl)
endif()
foreach(ranks 1 2 4)
  add_test(NAME mpi.ranks_${ranks}
    COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${ranks} --oversubscribe $<TARGET_FILE:elm_mpi_tests>)
  set_tests_properties(mpi.ranks_${ranks} PROPERTIES
    ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1"
    PROCESSORS ${ranks} TIMEOUT 300)
endforeach()
