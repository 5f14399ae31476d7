# CMake toolchain file for bare-metal Arm (arm-none-eabi-gcc), used by the board firmware's
# CMakeLists.txt: cmake -S . -B build -DCMAKE_TOOLCHAIN_FILE=arm-none-eabi.cmake
# (the CMakeLists.txt sets it itself when none is given).
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_ASM_COMPILER arm-none-eabi-gcc)
set(CMAKE_OBJCOPY arm-none-eabi-objcopy)
# no newlib to link a test executable against: test the compiler with a static library
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
