# The Python module `veloxquant`, built from the same tree as the library.
# Layout in the build tree: ${CMAKE_BINARY_DIR}/python/veloxquant/{__init__.py, _core*.so};
# the tests run /usr/bin/python3 -m pytest python/tests with PYTHONPATH pointing there.
if(NOT VELOXQUANT_PYTHON)
  return()
endif()

find_package(Python COMPONENTS Interpreter Development)
if(Python_FOUND)
  find_package(pybind11 CONFIG)
endif()
if(NOT Python_FOUND OR NOT pybind11_FOUND)
  message(WARNING "veloxquant: Python development files or pybind11 not found; the Python module is not built")
  return()
endif()

set(VELOXQUANT_PY_DIR ${CMAKE_BINARY_DIR}/python/veloxquant)
file(GLOB VELOXQUANT_PY_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/src/*.cpp)
pybind11_add_module(veloxquant_python MODULE NO_EXTRAS ${VELOXQUANT_PY_SOURCES})
target_include_directories(veloxquant_python PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(veloxquant_python PRIVATE veloxquant)
set_target_properties(veloxquant_python PROPERTIES
  OUTPUT_NAME _core
  LIBRARY_OUTPUT_DIRECTORY ${VELOXQUANT_PY_DIR})

# The pure-Python packages (veloxquant's Python part, and mlx_kv_quant, the seed project's API over
# it) are copied next to the extension, keeping their subpackages (configure_file makes CMake
# re-run, and copy again, whenever one of them changes).
set(VELOXQUANT_PY_PACKAGES veloxquant mlx_kv_quant)
set(VELOXQUANT_PY_FILES)
foreach(package ${VELOXQUANT_PY_PACKAGES})
  file(GLOB_RECURSE files CONFIGURE_DEPENDS RELATIVE ${CMAKE_CURRENT_LIST_DIR} ${CMAKE_CURRENT_LIST_DIR}/${package}/*.py)
  list(APPEND VELOXQUANT_PY_FILES ${files})
endforeach()
foreach(py ${VELOXQUANT_PY_FILES})
  configure_file(${CMAKE_CURRENT_LIST_DIR}/${py} ${CMAKE_BINARY_DIR}/python/${py} COPYONLY)
endforeach()

add_test(NAME python_tests
  COMMAND ${Python_EXECUTABLE} -m pytest -q -p no:cacheprovider ${CMAKE_CURRENT_LIST_DIR}/tests)
set_tests_properties(python_tests PROPERTIES
  ENVIRONMENT "PYTHONPATH=${CMAKE_BINARY_DIR}/python;VELOXQUANT_CLI=$<TARGET_FILE:veloxquant_cli>;PYTHONDONTWRITEBYTECODE=1"
  TIMEOUT 300)

# `pip install .` (setup.py) installs component "python" only: the extension and both packages.
install(TARGETS veloxquant_python LIBRARY DESTINATION veloxquant COMPONENT python)
foreach(py ${VELOXQUANT_PY_FILES})
  get_filename_component(dir ${py} DIRECTORY)
  install(FILES ${CMAKE_CURRENT_LIST_DIR}/${py} DESTINATION ${dir} COMPONENT python)
endforeach()
