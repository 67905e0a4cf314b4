#include "policies/placement/numpy_argsort.hpp"

#include <cstddef>
#include <utility>

namespace sy::policies {

namespace {

// numpy's Tag::less: for floating point, NaN is larger than every number.
bool less(double a, double b) { return a < b || (b != b && a == a); }
bool less(std::int64_t a, std::int64_t b) { return a < b; }

constexpr std::ptrdiff_t small_partition = 15; // numpy's SMALL_QUICKSORT: insertion sort for <= 16 elements

int msb(std::size_t n) { // numpy's npy_get_msb: floor(log2 n), 0 for n <= 1
  int d = 0;
  while (n >>= 1)
    ++d;
  return d;
}

// numpy's aheapsort_ on idx[0..n): a max-heap with 1-based indexing.
template <typename T>
void heapsort(const T* v, int* idx, std::ptrdiff_t n) {
  int* a = idx - 1;
  for (std::ptrdiff_t l = n >> 1; l > 0; --l) {
    const int tmp = a[l];
    std::ptrdiff_t i = l;
    for (std::ptrdiff_t j = l << 1; j <= n;) {
      if (j < n && less(v[a[j]], v[a[j + 1]]))
        j += 1;
      if (!less(v[tmp], v[a[j]]))
        break;
      a[i] = a[j];
      i = j;
      j += j;
    }
    a[i] = tmp;
  }
  while (n > 1) {
    const int tmp = a[n];
    a[n] = a[1];
    n -= 1;
    std::ptrdiff_t i = 1;
    for (std::ptrdiff_t j = 2; j <= n;) {
      if (j < n && less(v[a[j]], v[a[j + 1]]))
        ++j;
      if (!less(v[tmp], v[a[j]]))
        break;
      a[i] = a[j];
      i = j;
      j += j;
    }
    a[i] = tmp;
  }
}

// numpy's aquicksort_ (npysort/quicksort.cpp), with the same explicit stack: the larger partition is pushed,
// the smaller one is worked on, and each push records the depth budget left.
template <typename T>
std::vector<int> argsort(const std::vector<T>& values) {
  const auto num = static_cast<std::ptrdiff_t>(values.size());
  std::vector<int> idx(values.size());
  for (std::size_t i = 0; i < idx.size(); ++i)
    idx[i] = static_cast<int>(i);
  if (num < 2)
    return idx;
  const T* v = values.data();
  constexpr int stack_size = 128; // numpy's PYA_QS_STACK: 2 * bits of npy_intp
  int* stack[stack_size];
  int depth[stack_size];
  int** sptr = stack;
  int* psdepth = depth;
  int* pl = idx.data();
  int* pr = pl + num - 1;
  int cdepth = msb(values.size()) * 2;
  for (;;) {
    if (cdepth < 0) {
      heapsort(v, pl, pr - pl + 1);
    } else {
      while (pr - pl > small_partition) {
        int* pm = pl + ((pr - pl) >> 1);
        if (less(v[*pm], v[*pl]))
          std::swap(*pm, *pl);
        if (less(v[*pr], v[*pm]))
          std::swap(*pr, *pm);
        if (less(v[*pm], v[*pl]))
          std::swap(*pm, *pl);
        const T vp = v[*pm];
        int* pi = pl;
        int* pj = pr - 1;
        std::swap(*pm, *pj);
        for (;;) {
          do
            ++pi;
          while (less(v[*pi], vp));
          do
            --pj;
          while (less(vp, v[*pj]));
          if (pi >= pj)
            break;
          std::swap(*pi, *pj);
        }
        std::swap(*pi, *(pr - 1));
        if (pi - pl < pr - pi) {
          *sptr++ = pi + 1;
          *sptr++ = pr;
          pr = pi - 1;
        } else {
          *sptr++ = pl;
          *sptr++ = pi - 1;
          pl = pi + 1;
        }
        *psdepth++ = --cdepth;
      }
      for (int* pi = pl + 1; pi <= pr; ++pi) {
        const int vi = *pi;
        const T vp = v[vi];
        int* pj = pi;
        int* pk = pi - 1;
        while (pj > pl && less(vp, v[*pk]))
          *pj-- = *pk--;
        *pj = vi;
      }
    }
    if (sptr == stack)
      break;
    pr = *(--sptr);
    pl = *(--sptr);
    cdepth = *(--psdepth);
  }
  return idx;
}

} // namespace

std::vector<int> numpy_argsort(const std::vector<double>& v) { return argsort(v); }
std::vector<int> numpy_argsort(const std::vector<std::int64_t>& v) { return argsort(v); }

} // namespace sy::policies
