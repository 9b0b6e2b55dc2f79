// result.hpp - a value or an error, for paths that must not throw.
//
// Purpose: the per-message path and the policy loader report environment
//   errors (bad input, unreachable backends) as values, not exceptions
//   (STYLE.md §5). Bugs stay asserts.
// Thread-safety: a plain value type.
// Errors: Error carries a human-readable message; callers add context.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace staffel::core {

struct Error {
    std::string message;
};

template <typename T>
class Result {
  public:
    Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
    Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

    [[nodiscard]] bool ok() const { return std::holds_alternative<T>(v_); }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<T>(v_); }
    const T& value() const& { return std::get<T>(v_); }
    T&& value() && { return std::get<T>(std::move(v_)); }
    const T& operator*() const& { return value(); }
    const T* operator->() const { return &value(); }

    [[nodiscard]] const Error& error() const { return std::get<Error>(v_); }

  private:
    std::variant<T, Error> v_;
};

inline Error make_error(std::string message) {
    return Error{std::move(message)};
}

}  // namespace staffel::core
