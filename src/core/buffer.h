// Buffer<T>: an array that either owns its elements (a std::vector) or borrows them
// from memory kept alive by someone else — typically a memory-mapped model file, so a
// loaded tensor is used in place and loading copies nothing.
//
// Reads never copy. The mutating members (resize, assign, push_back, non-const
// data/operator[]/begin) first turn a borrowed buffer into an owned copy ("copy on
// write"), so writing can never reach the read-only mapping. Kernels take weights by
// const reference and so never trigger that copy.
#pragma once

#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <span>
#include <utility>
#include <vector>

namespace nibble {

template <typename T>
class Buffer {
 public:
  using value_type = T;
  using iterator = T*;
  using const_iterator = const T*;

  Buffer() = default;
  Buffer(std::vector<T> owned) : owned_(std::move(owned)) {}  // NOLINT: implicit on purpose
  Buffer(std::initializer_list<T> values) : owned_(values) {}

  // Borrows `elements`; `keep_alive` owns the memory they live in (e.g. the mapping).
  static Buffer borrow(std::span<const T> elements, std::shared_ptr<const void> keep_alive) {
    Buffer b;
    if (elements.empty()) return b;
    b.view_ = elements.data();
    b.view_size_ = elements.size();
    b.keep_alive_ = std::move(keep_alive);
    return b;
  }

  bool borrowed() const { return view_ != nullptr; }
  size_t size() const { return view_ ? view_size_ : owned_.size(); }
  bool empty() const { return size() == 0; }
  const T* data() const { return view_ ? view_ : owned_.data(); }
  const T& operator[](size_t i) const { return data()[i]; }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size(); }
  std::span<const T> span() const { return {data(), size()}; }

  T* data() { return own().data(); }
  T& operator[](size_t i) { return own()[i]; }
  T* begin() { return own().data(); }
  T* end() { return own().data() + owned_.size(); }
  void resize(size_t n) { own().resize(n); }
  void assign(size_t n, const T& value) { release_view(); owned_.assign(n, value); }
  template <typename It>
  void assign(It first, It last) { release_view(); owned_.assign(first, last); }
  void push_back(const T& value) { own().push_back(value); }

  friend bool operator==(const Buffer& a, const Buffer& b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
  }
  friend bool operator==(const Buffer& a, const std::vector<T>& b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
  }

 private:
  std::vector<T>& own() {
    if (view_) {
      owned_.assign(view_, view_ + view_size_);
      release_view();
    }
    return owned_;
  }
  void release_view() {
    view_ = nullptr;
    view_size_ = 0;
    keep_alive_.reset();
  }

  std::vector<T> owned_;
  const T* view_ = nullptr;
  size_t view_size_ = 0;
  std::shared_ptr<const void> keep_alive_;
};

}  // namespace nibble
