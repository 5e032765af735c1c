# Smoke tests of the CLI: each command runs, prints what it promises, and rejects bad input.
set(VQ $<TARGET_FILE:veloxquant_cli>)
add_test(NAME cli_demo COMMAND ${VQ} demo --samples 200)
set_tests_properties(cli_demo PROPERTIES PASS_REGULAR_EXPRESSION "tq3 +128 +3\\.125")
add_test(NAME cli_eval_json COMMAND ${VQ} eval --method tq --bits 1,2 --dim 64 --samples 500 --json)
set_tests_properties(cli_eval_json PROPERTIES PASS_REGULAR_EXPRESSION "\"results\": \\[\\{\"format\": \"tq1\"")
add_test(NAME cli_eval_unknown_format COMMAND ${VQ} eval --formats tq3,zq9 --samples 10)
set_tests_properties(cli_eval_unknown_format PROPERTIES WILL_FAIL TRUE)
add_test(NAME cli_eval_bad_bits COMMAND ${VQ} eval --method tq --bits 9)
set_tests_properties(cli_eval_bad_bits PROPERTIES WILL_FAIL TRUE)
add_test(NAME cli_eval_bad_option COMMAND ${VQ} eval --colour red)
set_tests_properties(cli_eval_bad_option PROPERTIES WILL_FAIL TRUE)
# bench on a small cache: the JSON carries what the issue asks of every result.
add_test(NAME cli_bench_attend_json COMMAND ${VQ} bench attend --ctx 300 --dim 64 --kv-heads 2 --q-per-kv 2
  --formats f16,tq3 --reps 2 --json)
set_tests_properties(cli_bench_attend_json PROPERTIES PASS_REGULAR_EXPRESSION
  "\"read_gb_per_s\".*\"results\": \\[.*\"format\": \"f16\".*\"format\": \"tq3\", \"key_format\": \"tq3\", \"value_format\": \"tq3\", \"ctx\": 300, \"us_per_step\": [0-9.e+-]+, .*\"kv_bytes_per_token\": [0-9.e+-]+, \"bits_per_coord\": [0-9.e+-]+, .*\"speedup_vs_f16\": [0-9.e+-]+, \"rel_err\": 0\\.[0-9]+, \"gb_per_s\": [0-9.e+-]+")
add_test(NAME cli_bench_attend_warm COMMAND ${VQ} bench attend --ctx 300 --dim 64 --kv-heads 2 --formats tq3 --reps 2
  --warm --json)
set_tests_properties(cli_bench_attend_warm PROPERTIES PASS_REGULAR_EXPRESSION "\"warm\": true}.*\"format\": \"tq3\"")
add_test(NAME cli_bench_append_json COMMAND ${VQ} bench append --tokens 300 --dim 64 --kv-heads 2 --formats tq3 --reps 1 --json)
set_tests_properties(cli_bench_append_json PROPERTIES PASS_REGULAR_EXPRESSION "\"format\": \"tq3\", \"token_heads_per_s\": [0-9.e+]+")
add_test(NAME cli_bench_bad_format COMMAND ${VQ} bench attend --ctx 10 --formats tq3,zz7)
set_tests_properties(cli_bench_bad_format PROPERTIES WILL_FAIL TRUE)
add_test(NAME cli_unknown_command COMMAND ${VQ} frobnicate)
set_tests_properties(cli_unknown_command PROPERTIES WILL_FAIL TRUE)

# quantize-model on the shared model: the report, then run/perplexity on the .vqm give the text and
# perplexity of the .gguf with --weights at load.
set(VQ_TINY ${CMAKE_SOURCE_DIR}/../shared/models/tiny-llama-5m-f32.gguf)
if(EXISTS ${VQ_TINY})
  set(VQ_VQM ${CMAKE_BINARY_DIR}/cli_tiny_tq4.vqm)
  add_test(NAME cli_quantize_model COMMAND ${VQ} quantize-model ${VQ_TINY} ${VQ_VQM} --weights tq4 --report)
  set_tests_properties(cli_quantize_model PROPERTIES FIXTURES_SETUP vqm
    PASS_REGULAR_EXPRESSION "quantized matrices +16777216 +2125824 +4\\.055 +0\\.09")
  add_test(NAME cli_quantize_model_json COMMAND ${VQ} quantize-model ${VQ_TINY} ${CMAKE_BINARY_DIR}/cli_tiny_b64.vqm
    --weights tq4:block=64 --json)
  set_tests_properties(cli_quantize_model_json PROPERTIES
    PASS_REGULAR_EXPRESSION "\"weights\": \"tq4:block=64\".*\"quantized\": \\{\"name\": \"quantized matrices\"")
  add_test(NAME cli_quantize_model_bad_weights COMMAND ${VQ} quantize-model ${VQ_TINY} ${CMAKE_BINARY_DIR}/bad.vqm --weights tq9)
  set_tests_properties(cli_quantize_model_bad_weights PROPERTIES WILL_FAIL TRUE)
  add_test(NAME cli_run_vqm_equals_gguf_weights COMMAND sh -c
    "$<TARGET_FILE:veloxquant_cli> run -m ${VQ_VQM} -p 'The kernel' -n 24 --threads 1 > vqm.txt 2>/dev/null && \
     $<TARGET_FILE:veloxquant_cli> run -m ${VQ_TINY} --weights tq4 -p 'The kernel' -n 24 --threads 1 > gguf.txt 2>/dev/null && \
     cmp vqm.txt gguf.txt && echo same-text")
  set_tests_properties(cli_run_vqm_equals_gguf_weights PROPERTIES FIXTURES_REQUIRED vqm PASS_REGULAR_EXPRESSION "same-text")
  add_test(NAME cli_perplexity_vqm COMMAND ${VQ} perplexity -m ${VQ_VQM} --tokens
    ${CMAKE_SOURCE_DIR}/../shared/models/test.u16 --ctx 64 --chunks 2 --cache-k exact --cache-v exact --threads 1)
  set_tests_properties(cli_perplexity_vqm PROPERTIES FIXTURES_REQUIRED vqm PASS_REGULAR_EXPRESSION "ppl [0-9.]+")
  # Per-layer cache formats: the summary names the layers kept at q8; a bad layer is refused by name.
  add_test(NAME cli_run_cache_layers COMMAND ${VQ} run -m ${VQ_TINY} -p "The kernel" -n 8 --threads 1
    --cache-k tq3 --cache-v tq3 --cache-k-layers "0,-1=q8" --cache-v-layers "-1=q8")
  set_tests_properties(cli_run_cache_layers PROPERTIES
    PASS_REGULAR_EXPRESSION "K tq3 V tq3, layers 0 K q8 V tq3, layers [0-9]+ K q8 V q8, window 128")
  add_test(NAME cli_run_cache_layers_out_of_range COMMAND ${VQ} run -m ${VQ_TINY} -p "The kernel" -n 8 --threads 1
    --cache-k tq3 --cache-v tq3 --cache-k-layers "9=q8")
  set_tests_properties(cli_run_cache_layers_out_of_range PROPERTIES
    PASS_REGULAR_EXPRESSION "--cache-k-layers '9=q8': layer 9 is out of range for a model of [0-9]+ layers")
  # run --chat: two user turns from stdin; the second runs only its own tokens (the cache is kept).
  add_test(NAME cli_run_chat COMMAND sh -c
    "printf 'Hello there\\nAnd then?\\n' | $<TARGET_FILE:veloxquant_cli> run -m ${VQ_TINY} --chat --chat-template chatml \
     --system 'Be brief.' -n 8 --threads 1")
  set_tests_properties(cli_run_chat PROPERTIES
    PASS_REGULAR_EXPRESSION "chat template: chatml.*turn 1: [0-9]+ new tokens run.*turn 2: 40 new tokens run, 8 generated, [0-9]+ in the cache")
  add_test(NAME cli_run_chat_needs_a_template COMMAND sh -c
    "echo hi | $<TARGET_FILE:veloxquant_cli> run -m ${VQ_TINY} --chat --threads 1")
  set_tests_properties(cli_run_chat_needs_a_template PROPERTIES PASS_REGULAR_EXPRESSION "has no tokenizer.chat_template")
  add_test(NAME cli_run_chat_unknown_template COMMAND sh -c
    "echo hi | $<TARGET_FILE:veloxquant_cli> run -m ${VQ_TINY} --chat --chat-template vicuna --threads 1")
  set_tests_properties(cli_run_chat_unknown_template PROPERTIES PASS_REGULAR_EXPRESSION "unknown chat template 'vicuna'")
  # inspect on model files: the .vqm is loaded with every check; a truncated copy is refused.
  add_test(NAME cli_inspect_vqm COMMAND ${VQ} inspect ${VQ_VQM})
  set_tests_properties(cli_inspect_vqm PROPERTIES FIXTURES_REQUIRED vqm
    PASS_REGULAR_EXPRESSION "weights tq4 \\(seed 0\\).*quantized matrices 4\\.055 bits per weight.*all sections ok")
  add_test(NAME cli_inspect_gguf_json COMMAND ${VQ} inspect --json ${VQ_TINY})
  set_tests_properties(cli_inspect_gguf_json PROPERTIES
    PASS_REGULAR_EXPRESSION "\"kind\": \"gguf\".*\"layers\": 4.*\"name\": \"blk\\.0\\.attn_q\\.weight\"")
  add_test(NAME cli_inspect_truncated_vqm COMMAND sh -c
    "head -c 5000 ${VQ_VQM} > truncated.vqm && \
     if $<TARGET_FILE:veloxquant_cli> inspect truncated.vqm 2> inspect_err.txt; then exit 1; fi; \
     grep -q 'truncated' inspect_err.txt && echo refused")
  set_tests_properties(cli_inspect_truncated_vqm PROPERTIES FIXTURES_REQUIRED vqm PASS_REGULAR_EXPRESSION "refused")

  # GPTQ: a calibrated .vqm holds the codes that calibrated --weights chooses at load.
  set(VQ_TOKENS ${CMAKE_SOURCE_DIR}/../shared/models/test.u16)
  set(VQ_CALIB --calibrate ${VQ_TOKENS} --calib-skip 100 --calib-windows 2 --calib-ctx 128)
  set(VQ_GPTQ_VQM ${CMAKE_BINARY_DIR}/cli_tiny_tq4_gptq.vqm)
  add_test(NAME cli_quantize_model_gptq COMMAND ${VQ} quantize-model ${VQ_TINY} ${VQ_GPTQ_VQM} --weights tq4 ${VQ_CALIB} --threads 1)
  set_tests_properties(cli_quantize_model_gptq PROPERTIES FIXTURES_SETUP vqm_gptq
    PASS_REGULAR_EXPRESSION "calibration: tokens 12800 .. 13056 .*4\\.055 bits per weight, GPTQ codes")
  string(REPLACE ";" " " VQ_CALIB_TEXT "${VQ_CALIB}")
  add_test(NAME cli_run_gptq_vqm_equals_gguf_weights COMMAND sh -c
    "$<TARGET_FILE:veloxquant_cli> run -m ${VQ_GPTQ_VQM} -p 'The kernel' -n 24 --threads 1 > gptq_vqm.txt 2>/dev/null && \
     $<TARGET_FILE:veloxquant_cli> run -m ${VQ_TINY} --weights tq4 ${VQ_CALIB_TEXT} -p 'The kernel' -n 24 --threads 2 > gptq_gguf.txt 2>/dev/null && \
     cmp -s gptq_vqm.txt gptq_gguf.txt && echo same-text")
  set_tests_properties(cli_run_gptq_vqm_equals_gguf_weights PROPERTIES FIXTURES_REQUIRED vqm_gptq PASS_REGULAR_EXPRESSION "same-text")
  add_test(NAME cli_quantize_model_gptq_threads COMMAND sh -c
    "$<TARGET_FILE:veloxquant_cli> quantize-model ${VQ_TINY} gptq_threads2.vqm --weights tq4 ${VQ_CALIB_TEXT} --threads 2 2>/dev/null && \
     cmp gptq_threads2.vqm ${VQ_GPTQ_VQM} && echo same-file")
  set_tests_properties(cli_quantize_model_gptq_threads PROPERTIES FIXTURES_REQUIRED vqm_gptq PASS_REGULAR_EXPRESSION "same-file")
  add_test(NAME cli_calibrate_missing_file COMMAND ${VQ} perplexity -m ${VQ_TINY} --tokens ${VQ_TOKENS} --ctx 64 --chunks 1
    --weights tq4 --calibrate ${CMAKE_BINARY_DIR}/no_such_tokens.u16 --threads 1)
  set_tests_properties(cli_calibrate_missing_file PROPERTIES PASS_REGULAR_EXPRESSION "cannot open token file '.*no_such_tokens.u16'")
  add_test(NAME cli_calibrate_too_few_tokens COMMAND ${VQ} quantize-model ${VQ_TINY} ${CMAKE_BINARY_DIR}/few.vqm --weights tq4
    --calibrate ${VQ_TOKENS} --calib-skip 300 --calib-windows 100 --threads 1)
  set_tests_properties(cli_calibrate_too_few_tokens PROPERTIES
    PASS_REGULAR_EXPRESSION "calibration tokens hold 335 windows of 512, fewer than the 400 asked")
  add_test(NAME cli_calibrate_overlaps_scored COMMAND ${VQ} perplexity -m ${VQ_TINY} --tokens ${VQ_TOKENS} --ctx 64 --chunks 4
    --weights tq4 --calibrate ${VQ_TOKENS} --calib-skip 1 --calib-windows 1 --calib-ctx 64 --threads 1)
  set_tests_properties(cli_calibrate_overlaps_scored PROPERTIES PASS_REGULAR_EXPRESSION "overlap the scored tokens 0 .. 257")
  add_test(NAME cli_calibrate_needs_weights COMMAND ${VQ} run -m ${VQ_TINY} -p The -n 1 --calibrate ${VQ_TOKENS})
  set_tests_properties(cli_calibrate_needs_weights PROPERTIES PASS_REGULAR_EXPRESSION "--calibrate needs --weights")

  # convert: the shared model as llama.cpp's Q4_K_M mix, run and inspected; a random model of a
  # shape; bad types.
  set(VQ_Q4KM ${CMAKE_BINARY_DIR}/cli_tiny_q4_k_m.gguf)
  add_test(NAME cli_convert_q4_k_m COMMAND ${VQ} convert -m ${VQ_TINY} -o ${VQ_Q4KM} --type q4_k_m --threads 2)
  set_tests_properties(cli_convert_q4_k_m PROPERTIES FIXTURES_SETUP q4km PASS_REGULAR_EXPRESSION
    "tensor bytes 20980736 -> 3346944.*matrices: 5242880 weights, 5\\.0930 bits per weight.*tensors per type: f32 9, q4_K 25, q6_K 5")
  add_test(NAME cli_run_q4_k_m COMMAND ${VQ} run -m ${VQ_Q4KM} -p "The kernel" -n 8 --threads 1)
  set_tests_properties(cli_run_q4_k_m PROPERTIES FIXTURES_REQUIRED q4km PASS_REGULAR_EXPRESSION "generation: 8 tokens")
  add_test(NAME cli_inspect_q4_k_m COMMAND ${VQ} inspect ${VQ_Q4KM})
  set_tests_properties(cli_inspect_q4_k_m PROPERTIES FIXTURES_REQUIRED q4km
    PASS_REGULAR_EXPRESSION "blk\\.0\\.attn_v\\.weight +128x256 +q4_K.*blk\\.3\\.attn_v\\.weight +128x256 +q6_K.*output\\.weight +4096x256 +q6_K")
  add_test(NAME cli_convert_random COMMAND ${VQ} convert --random dim=256,layers=1,heads=4,kv_heads=2,ffn=512,vocab=4200
    --tokenizer ${VQ_TINY} -o ${CMAKE_BINARY_DIR}/cli_random_q8_0.gguf --type q8_0 --threads 1)
  set_tests_properties(cli_convert_random PROPERTIES PASS_REGULAR_EXPRESSION
    "from random weights.*tensor bytes 2914560.*matrices: 2740224 weights, 8\\.5000 bits.*tensors per type: f32 3, q8_0 9")
  add_test(NAME cli_convert_bad_type COMMAND ${VQ} convert -m ${VQ_TINY} -o ${CMAKE_BINARY_DIR}/bad.gguf --type q3_k_xl)
  set_tests_properties(cli_convert_bad_type PROPERTIES PASS_REGULAR_EXPRESSION "unknown --type 'q3_k_xl' \\(choose q4_k_m")
  add_test(NAME cli_convert_needs_source COMMAND ${VQ} convert -o ${CMAKE_BINARY_DIR}/bad.gguf --type q8_0)
  set_tests_properties(cli_convert_needs_source PROPERTIES WILL_FAIL TRUE)
endif()

# --target: dispatch restricted for the whole process (kernels/targets.h), named in bench's output.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  add_test(NAME cli_target_avx2 COMMAND ${VQ} bench attend --target avx2 --ctx 300 --dim 64 --kv-heads 2
    --formats f16,tq3 --reps 1 --json)
  set_tests_properties(cli_target_avx2 PROPERTIES PASS_REGULAR_EXPRESSION "\"target\": \"AVX2\".*\"format\": \"tq3\"")
endif()
add_test(NAME cli_target_scalar_env COMMAND ${CMAKE_COMMAND} -E env VELOXQUANT_TARGET=scalar
  ${VQ} bench attend --ctx 300 --dim 64 --kv-heads 2 --formats tq3 --reps 1 --json)
set_tests_properties(cli_target_scalar_env PROPERTIES PASS_REGULAR_EXPRESSION "\"target\": \"EMU128\"")
add_test(NAME cli_target_unknown COMMAND ${VQ} --target avx9000 demo)
set_tests_properties(cli_target_unknown PROPERTIES PASS_REGULAR_EXPRESSION "unknown target 'avx9000' \\(known: native")
