#include <geomkit/geomkit.hpp>
#include "testing.hpp"
