# GEOMKIT_ENABLE_CUDA=ON: the CUDA language, the toolkit, and the header-only
# geomkit::cuda target (geomkit/cuda.cuh and geomkit/cuda/*.cuh) that links the CUDA
# runtime, cuBLAS and cuSOLVER. Tests and the benchmark build for sm_80 and sm_90 unless
# CMAKE_CUDA_ARCHITECTURES says otherwise.
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES 80 90)
endif()
if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX})
  find_program(GEOMKIT_CUDA_NVCC nvcc HINTS ENV CUDA_HOME ENV CUDA_PATH /usr/local/cuda PATH_SUFFIXES bin)
  if(GEOMKIT_CUDA_NVCC)
    set(CMAKE_CUDA_COMPILER "${GEOMKIT_CUDA_NVCC}")
  endif()
endif()
# nvcc's host compiler: the C++ compiler of the project, unless one was chosen.
if(NOT CMAKE_CUDA_HOST_COMPILER AND NOT DEFINED ENV{CUDAHOSTCXX})
  set(CMAKE_CUDA_HOST_COMPILER "${CMAKE_CXX_COMPILER}")
endif()
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)

add_library(geomkit_cuda INTERFACE)
add_library(geomkit::cuda ALIAS geomkit_cuda)
set_target_properties(geomkit_cuda PROPERTIES EXPORT_NAME cuda)
target_compile_features(geomkit_cuda INTERFACE cuda_std_17)
target_link_libraries(geomkit_cuda INTERFACE geomkit::geomkit CUDA::cudart CUDA::cublas CUDA::cusolver)

# Settings for geomkit's own CUDA targets (never the interface): warnings of the host
# compiler; nvcc's front end warns inside Eigen's own __host__ __device__ code (defaulted
# members, constexpr calls), which the geomkit headers reach through Eigen/Core.
function(geomkit_internal_cuda_target target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra -diag-suppress=20012,20015>)
  if(GEOMKIT_SANITIZE)
    message(WARNING "GEOMKIT_SANITIZE does not apply to the CUDA targets")
  endif()
endfunction()
