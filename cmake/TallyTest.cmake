# Test registration. One C program per test file (STYLE.md "Tests"); exit code 77 means
# skipped. Label `concurrent` marks the tests that the TSan build runs.

# tally_test_properties(<name> <timeout or empty> <serial: TRUE|FALSE> <labels>)
function(tally_test_properties name timeout serial labels)
	if(NOT timeout)
		set(timeout 300)
	endif()
	set_tests_properties(${name} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT ${timeout}
			     LABELS "${labels}" RUN_SERIAL ${serial})
endfunction()

# tally_add_test(<name> SOURCES <c files> [LIBS <targets>] [ARGS <args>]
#                [LABELS <labels>] [TIMEOUT <s>] [SERIAL])
function(tally_add_test name)
	cmake_parse_arguments(T "SERIAL" "TIMEOUT" "SOURCES;LIBS;ARGS;LABELS" ${ARGN})
	add_executable(${name} ${T_SOURCES})
	target_link_libraries(${name} PRIVATE ${T_LIBS})
	set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
	add_test(NAME ${name} COMMAND ${name} ${T_ARGS})
	tally_test_properties(${name} "${T_TIMEOUT}" ${T_SERIAL} "${T_LABELS}")
endfunction()

# tally_add_script_test(<name> <script> [LABELS ...] [TIMEOUT <s>] [SERIAL]): a shell
# test that drives the built `tally` binary as a user would; it gets the binary as $1.
function(tally_add_script_test name script)
	cmake_parse_arguments(T "SERIAL" "TIMEOUT" "LABELS" ${ARGN})
	add_test(NAME ${name} COMMAND bash ${script} $<TARGET_FILE:tally>)
	tally_test_properties(${name} "${T_TIMEOUT}" ${T_SERIAL} "${T_LABELS}")
endfunction()
