// C++ firmware calling the C model (tests/test_model_library.py): the header's extern "C"
// block gives the C names, so this links with the gcc-compiled model objects.
#include <cstdint>

#include "toy_net_model.h"

alignas(TOY_NET_ARENA_ALIGN) static int8_t arena[TOY_NET_ARENA_SIZE];

int main()
{
    for (int i = 0; i < TOY_NET_INPUT_SIZE; ++i)
        toy_net_input(arena)[i] = static_cast<int8_t>(i);
    return toy_net_run_with_arena(arena, toy_net_input(arena), toy_net_output(arena)) == TOY_NET_OK ? 0 : 1;
}
