# basin_dependencies.cmake — finds what basin's headers need and collects it in basin::deps.
# Used both from the source tree and from an installed package (basin-config.cmake).
include_guard(GLOBAL)
include(CMakeFindDependencyMacro)

find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(Eigen3 3.3 REQUIRED NO_MODULE)
find_package(ZLIB REQUIRED)
find_package(HDF5 REQUIRED COMPONENTS C)

# Thrust: the CUDA toolkit's CCCL headers when present, else Debian's libthrust-dev.
set(_basin_thrust_dir "")
foreach(_candidate /usr/local/cuda/include/cccl /usr/local/cuda/include /usr/include)
  if(EXISTS "${_candidate}/thrust/version.h" AND EXISTS "${_candidate}/cub/cub.cuh")
    set(_basin_thrust_dir "${_candidate}")
    break()
  endif()
endforeach()
if(NOT _basin_thrust_dir)
  message(FATAL_ERROR "basin: Thrust not found: install the CUDA toolkit or Debian's "
                      "libthrust-dev and libcub-dev")
endif()
set(BASIN_THRUST_INCLUDE_DIR "${_basin_thrust_dir}" CACHE PATH "Where thrust/ and cub/ live")

# basin::deps is an imported target, so the exported basin::basin can name it without exporting it.
if(NOT TARGET basin::deps)
  add_library(basin::deps INTERFACE IMPORTED GLOBAL)
  target_include_directories(basin::deps SYSTEM INTERFACE ${BASIN_THRUST_INCLUDE_DIR}
                             ${HDF5_C_INCLUDE_DIRS} ${HDF5_INCLUDE_DIRS})
  # C++ translation units: Thrust's device system is OpenMP (backend::host). CUDA translation
  # units: the device system is CUDA (backend::cuda) and the host system OpenMP, so both
  # backends' algorithms are available there.
  target_compile_definitions(basin::deps INTERFACE
    $<$<COMPILE_LANGUAGE:CXX>:THRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_OMP>
    $<$<COMPILE_LANGUAGE:CXX>:THRUST_HOST_SYSTEM=THRUST_HOST_SYSTEM_CPP>
    $<$<COMPILE_LANGUAGE:CUDA>:THRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_CUDA>
    $<$<COMPILE_LANGUAGE:CUDA>:THRUST_HOST_SYSTEM=THRUST_HOST_SYSTEM_OMP>
    THRUST_IGNORE_CUB_VERSION_CHECK)
  target_link_libraries(basin::deps INTERFACE OpenMP::OpenMP_CXX Eigen3::Eigen ZLIB::ZLIB
                        ${HDF5_C_LIBRARIES})
endif()
