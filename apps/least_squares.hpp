#pragma once
// Least squares with non-negative coefficients for the profile's small cost models (N <= 3 coefficients):
// `switchyard profile`'s decode fit (apps/profile_measure.cpp) and `replay --fit-profile`'s step fit
// (apps/replay/step_fit.cpp). Normal equations, Gauss-Jordan with partial pivoting: the systems are tiny and
// well scaled enough for it.
#include <array>
#include <cmath>
#include <cstddef>
#include <optional>
#include <utility>
#include <vector>

namespace sy::apps {

/// Solves a x = y; false when a is singular.
template <std::size_t N>
bool solve_small(std::array<std::array<double, N>, N> a, std::array<double, N> y, std::array<double, N>& x) {
  for (std::size_t c = 0; c < N; ++c) {
    std::size_t piv = c;
    for (std::size_t r = c + 1; r < N; ++r)
      if (std::abs(a[r][c]) > std::abs(a[piv][c]))
        piv = r;
    std::swap(a[c], a[piv]);
    std::swap(y[c], y[piv]);
    if (std::abs(a[c][c]) < 1e-300)
      return false;
    for (std::size_t r = 0; r < N; ++r) {
      if (r == c)
        continue;
      const double f = a[r][c] / a[c][c];
      for (std::size_t k = 0; k < N; ++k)
        a[r][k] -= f * a[c][k];
      y[r] -= f * y[c];
    }
  }
  for (std::size_t c = 0; c < N; ++c)
    x[c] = y[c] / a[c][c];
  return true;
}

/// The normal equations ata x = aty solved with x >= 0: the most negative coefficient is fixed at 0 and the
/// others solved again without it, until none is negative. nullopt when the full system is singular; a
/// later singular round keeps the solution before it, its negatives set to 0.
template <std::size_t N>
std::optional<std::array<double, N>> nnls_normal(const std::array<std::array<double, N>, N>& ata,
                                                 const std::array<double, N>& aty) {
  std::array<double, N> x{};
  if (!solve_small(ata, aty, x))
    return std::nullopt;
  std::array<bool, N> active;
  active.fill(true);
  for (std::size_t round = 0; round < N; ++round) {
    std::optional<std::size_t> worst;
    for (std::size_t i = 0; i < N; ++i)
      if (active[i] && x[i] < 0 && (!worst || x[i] < x[*worst]))
        worst = i;
    if (!worst)
      break;
    active[*worst] = false;
    auto a = ata;
    auto y = aty;
    for (std::size_t i = 0; i < N; ++i)
      if (!active[i]) {
        for (std::size_t j = 0; j < N; ++j)
          a[i][j] = a[j][i] = 0;
        a[i][i] = 1;
        y[i] = 0;
      }
    if (!solve_small(a, y, x))
      break;
  }
  for (auto& v : x)
    v = v < 0 ? 0.0 : v;
  return x;
}

/// nnls_normal of the rows' normal equations (rows[r] . x ~ ys[r]); all zeros when they are singular.
template <std::size_t N>
std::array<double, N> nnls(const std::vector<std::array<double, N>>& rows, const std::vector<double>& ys) {
  std::array<std::array<double, N>, N> ata{};
  std::array<double, N> aty{};
  for (std::size_t r = 0; r < rows.size(); ++r)
    for (std::size_t i = 0; i < N; ++i) {
      for (std::size_t j = 0; j < N; ++j)
        ata[i][j] += rows[r][i] * rows[r][j];
      aty[i] += rows[r][i] * ys[r];
    }
  return nnls_normal(ata, aty).value_or(std::array<double, N>{});
}

} // namespace sy::apps
