# The C API test: a C99 program compiled against include/veloxquant/veloxquant.h alone.
add_executable(veloxquant_c_api_test ${CMAKE_CURRENT_LIST_DIR}/c_api_test.c)
set_target_properties(veloxquant_c_api_test PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF
                                                       LINKER_LANGUAGE CXX)
target_compile_options(veloxquant_c_api_test PRIVATE -pedantic)
target_include_directories(veloxquant_c_api_test PRIVATE ${CMAKE_SOURCE_DIR}/include)
target_link_libraries(veloxquant_c_api_test PRIVATE veloxquant Threads::Threads m)
add_test(NAME c_api_test COMMAND veloxquant_c_api_test WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
