// geomkit: geometry kernels for looking inside neural networks.
// Umbrella header for the CPU API. The GPU headers (geomkit/cuda/, geomkit/metal/) are
// included explicitly, never from here.
#pragma once

#include "version.hpp"
#include "config.hpp"
#include "core/error.hpp"
#include "core/matrix_view.hpp"
#include "core/batch_view.hpp"
#include "core/eigen.hpp"
#include "core/random.hpp"
#include "core/parallel.hpp"
#include "core/statistics.hpp"
#include "simd/arch.hpp"
#include "simd/dot.hpp"
#include "cayley_menger.hpp"
#include "pentachoron.hpp"
#include "core/half.hpp"
#include "bone_orientation.hpp"
#include "procrustes.hpp"
#include "spectrum.hpp"
#include "cosine.hpp"
