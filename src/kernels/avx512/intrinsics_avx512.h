// <immintrin.h> for the AVX-512 (and AMX) kernel files. Include only from
// src/kernels/avx512/ and src/kernels/amx/, before any other header that uses intrinsics.
//
// GCC 12's AVX-512 intrinsics initialise their "undefined" pass-through operand from
// itself (GCC bug 105593, fixed in 13), which -Wuninitialized then reports at every use;
// the pragmas hold for the rest of the including file.
#pragma once

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>
