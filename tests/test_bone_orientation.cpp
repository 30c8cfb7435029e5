#include <geomkit/bone_orientation.hpp>
#include "testing.hpp"
TEST_CASE("placeholder") {}
