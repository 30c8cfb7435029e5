// Every geomkit GPU header (CUDA). Include from a .cu file compiled by nvcc and link
// geomkit::cuda; the CPU umbrella geomkit/geomkit.hpp never includes these.
#pragma once

#include "cuda/common.cuh"
#include "cuda/cayley_menger.cuh"
#include "cuda/pentachoron.cuh"
#include "cuda/bone_orientation.cuh"
#include "cuda/spectrum.cuh"
#include "cuda/procrustes.cuh"
