// HugePageAllocator: a std::allocator for large, long-lived arrays that are streamed
// end to end (a decoded token reads every weight panel once). Blocks of 2 MiB or more are
// aligned to 2 MiB and their whole 2 MiB pages marked MADV_HUGEPAGE, so Linux can back them
// with transparent huge pages when its policy is "madvise" (the common default) rather than
// only when "always". The tail past the last whole huge page keeps 4 KiB pages: advised
// too, it would be resident in full, up to 2 MiB per array that no one reads (1B model,
// --act-int8: peak RSS 1285.4 MB with tails advised, 1251.3 MB without).
// That saves the page walks a 4 KiB-page stream takes every 4 KiB, which under
// virtualization (two-level walks) are not free. Smaller blocks, and systems without
// madvise, get plain operator new: the hint is an optimization, never a requirement.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>

#include <sys/mman.h>

namespace nibble {

inline constexpr size_t kHugePageBytes = size_t{2} << 20;

template <typename T>
struct HugePageAllocator {
  using value_type = T;

  HugePageAllocator() = default;
  template <typename U>
  HugePageAllocator(const HugePageAllocator<U>&) {}  // NOLINT: rebinding, as std::allocator

  T* allocate(size_t n) {
    const size_t bytes = n * sizeof(T);
    if (bytes < kHugePageBytes) return static_cast<T*>(::operator new(bytes));
    void* p = nullptr;
    if (::posix_memalign(&p, kHugePageBytes, bytes) != 0) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
    // Advisory: a refusal leaves ordinary pages.
    ::madvise(p, bytes / kHugePageBytes * kHugePageBytes, MADV_HUGEPAGE);
#endif
    return static_cast<T*>(p);
  }

  void deallocate(T* p, size_t n) {
    if (n * sizeof(T) < kHugePageBytes)
      ::operator delete(p);
    else
      std::free(p);
  }

  template <typename U>
  bool operator==(const HugePageAllocator<U>&) const { return true; }
};

}  // namespace nibble
