# Integration tests of `veloxquant serve` (docs/server.md): Node's test runner drives the real
# server on loopback with the OpenAI npm client, curl, raw sockets and headless Chromium. They need
# scripts/install-server-test.sh (Debian chromium and curl, `npm ci` here); server_test_deps says so
# when something is missing.
set(VQ_SERVER_MODEL ${CMAKE_SOURCE_DIR}/../shared/models/tiny-llama-5m-f32.gguf)
if(NOT EXISTS ${VQ_SERVER_MODEL})
  return()
endif()
find_program(VQ_NODE node)
set(VQ_SERVER_TESTS ${CMAKE_SOURCE_DIR}/tests/server)
add_test(NAME server_test_deps COMMAND sh -c
  "test -x '${VQ_NODE}' || { echo 'node not found'; exit 1; }; \
   test -f '${VQ_SERVER_TESTS}/node_modules/openai/package.json' || { echo 'tests/server/node_modules missing: run scripts/install-server-test.sh'; exit 1; }; \
   command -v chromium >/dev/null || { echo 'chromium missing: run scripts/install-server-test.sh'; exit 1; }; \
   command -v curl >/dev/null || { echo 'curl missing: run scripts/install-server-test.sh'; exit 1; }")
set_tests_properties(server_test_deps PROPERTIES FIXTURES_SETUP server_deps)
# LOAD_SECONDS sets the load test's duration (CI: 60). Sanitizer builds run the server 10-50x
# slower (Debug, instrumented SIMD code): there the other tests allow for it (VQ_SLOW scales their
# waits) and the load test, whose point is throughput-level concurrency and resident memory, is
# left to the Release build (TSan covers the engine's threads in veloxquant_tests).
set(VQ_LOAD_SECONDS 60 CACHE STRING "duration of the server load test")
set(VQ_SLOW 1)
set(VQ_SERVER_NODE_TESTS openai sse_curl bad_input page sessions load)
if(VELOXQUANT_SANITIZE OR VELOXQUANT_TSAN)
  set(VQ_SLOW 10)
  list(REMOVE_ITEM VQ_SERVER_NODE_TESTS load)
endif()
foreach(name ${VQ_SERVER_NODE_TESTS})
  add_test(NAME server_${name} COMMAND ${VQ_NODE} --test ${VQ_SERVER_TESTS}/${name}.test.mjs)
  set_tests_properties(server_${name} PROPERTIES FIXTURES_REQUIRED server_deps TIMEOUT 600
    ENVIRONMENT "VQ_BIN=$<TARGET_FILE:veloxquant_cli>;VQ_MODEL=${VQ_SERVER_MODEL};LOAD_SECONDS=${VQ_LOAD_SECONDS};VQ_SLOW=${VQ_SLOW}")
endforeach()
if(TEST server_load)
  # The load test keeps both cores busy for a minute: alone, so that it neither slows the timing
  # of the others (slow-client timeouts) nor is slowed by them.
  set_tests_properties(server_load PROPERTIES RUN_SERIAL TRUE)
endif()

# The command line: help, and bad options refused with a message before anything listens.
set(VQ $<TARGET_FILE:veloxquant_cli>)
add_test(NAME server_cli_help COMMAND ${VQ} serve --help)
set_tests_properties(server_cli_help PROPERTIES PASS_REGULAR_EXPRESSION "--kv-budget B\\|auto.*--session-dir DIR")
foreach(bad "--kv-budget;lots;is not a byte count" "--cache-k;exact;cannot be admitted"
            "--chat-template;vicuna;unknown chat template 'vicuna'" "--window;-1;outside 0" "--port;70000;not a port")
  list(GET bad 0 option)
  list(GET bad 1 value)
  list(GET bad 2 message)
  string(REGEX REPLACE "[^a-z]" "" tag "${option}")
  add_test(NAME server_cli_refuses_${tag} COMMAND sh -c
    "if ${VQ} serve -m ${VQ_SERVER_MODEL} --port 0 ${option} ${value} 2> err_${tag}.txt; then exit 1; fi; grep -q \"${message}\" err_${tag}.txt && echo refused")
  set_tests_properties(server_cli_refuses_${tag} PROPERTIES PASS_REGULAR_EXPRESSION "refused")
endforeach()
