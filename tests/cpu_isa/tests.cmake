# The golden and finite-difference suites again with the CPU kernels forced to
# each level (ELM_CPU_ISA): every level this CPU runs is checked against the
# reference, not only the one chosen by default. Levels the CPU lacks skip (77).
set(ELM_NUMERIC_UNIT_TESTS
  "AllConfigs/GradCheckCase.*:GradCheck.*:InputKinds.*:TwoTower.GradientsMatch*:TwoTower.FloatAgreesWithDouble:Released/PretrainedModel.*")
foreach(level baseline avx2 avx512)
  add_test(NAME cpu_isa.${level}.golden
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cpu_isa/on_level.sh ${level} $<TARGET_FILE:elm_golden_tests>)
  add_test(NAME cpu_isa.${level}.gradcheck
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cpu_isa/on_level.sh ${level} $<TARGET_FILE:elm_unit_tests>
            --gtest_filter=${ELM_NUMERIC_UNIT_TESTS})
  set_tests_properties(cpu_isa.${level}.golden cpu_isa.${level}.gradcheck PROPERTIES
    ENVIRONMENT "ELMRUN=$<TARGET_FILE:elmrun>;ELM_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
    SKIP_RETURN_CODE 77 TIMEOUT 300)
endforeach()
