// Writes geomkit::metal::kernels::msl_program() (the text handed to the Metal compiler)
// to the file named by argv[1], for tests/metal_msl_syntax.cmake.
#include <geomkit/metal/kernels.hpp>

#include <cstdio>
#include <fstream>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: metal_msl_dump <output file>\n");
        return 2;
    }
    std::ofstream out(argv[1], std::ios::binary);
    out << geomkit::metal::kernels::msl_program();
    return out ? 0 : 1;
}
