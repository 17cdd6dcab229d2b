// Task<T>: the coroutine type of handlers. A handler is straight-line code
// that may `co_await` a platform call (a sibling room's getState, say); the
// room suspends it, hands the call to the platform in the effect batch, and
// resumes it when the answer comes back.
//
// Tasks are lazy: nothing runs until the task is awaited or started by the
// room. Exceptions escaping a handler are captured and turned into a
// RoomExecutionError by the room (in builds that have exceptions).
#pragma once

#include <exception>
#include <optional>
#include <utility>

#if __has_include(<coroutine>)
#include <coroutine>
namespace rooms::coro {
using std::coroutine_handle;
using std::suspend_always;
}  // namespace rooms::coro
#else
// libc++ 13 (Emscripten 3.1.6) only ships the TS header.
#include <experimental/coroutine>
namespace rooms::coro {
using std::experimental::coroutine_handle;
using std::experimental::suspend_always;
}  // namespace rooms::coro
#endif

namespace rooms {

namespace detail {
// Resumes h from a plain function. Inside a coroutine, clang 14 turns a
// resume in tail position into a Wasm tail call, which the Emscripten 3.1.6
// toolchain does not enable; keeping the call out of line avoids that.
[[gnu::noinline]] inline void resumeOutOfLine(coro::coroutine_handle<> h) { h.resume(); }
}  // namespace detail

template <class T>
class [[nodiscard]] Task {
 public:
  struct promise_type {
    std::optional<T> value;
    std::exception_ptr exception;
    coro::coroutine_handle<> continuation;

    Task get_return_object() { return Task(coro::coroutine_handle<promise_type>::from_promise(*this)); }
    coro::suspend_always initial_suspend() noexcept { return {}; }
    // Resumes the awaiting coroutine, if any. Not symmetric transfer (see
    // resumeOutOfLine); handler nesting is shallow, so the stack cost of plain
    // resumption does not matter.
    struct Final {
      bool await_ready() noexcept { return false; }
      void await_suspend(coro::coroutine_handle<promise_type> h) noexcept {
        if (auto next = h.promise().continuation) detail::resumeOutOfLine(next);
      }
      void await_resume() noexcept {}
    };
    Final final_suspend() noexcept { return {}; }
    void return_value(T v) { value.emplace(std::move(v)); }
    void unhandled_exception() { exception = std::current_exception(); }
  };
  using Handle = coro::coroutine_handle<promise_type>;

  Task() = default;
  explicit Task(Handle h) : h_(h) {}
  Task(Task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  Task& operator=(Task&& o) noexcept {
    if (this != &o) {
      if (h_) h_.destroy();
      h_ = std::exchange(o.h_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  ~Task() {
    if (h_) h_.destroy();
  }

  // Awaiting a task runs it; the awaiter resumes when it finishes.
  bool await_ready() const noexcept { return false; }
  void await_suspend(coro::coroutine_handle<> awaiting) noexcept {
    h_.promise().continuation = awaiting;
    detail::resumeOutOfLine(h_);
  }
  T await_resume() {
    if (h_.promise().exception) std::rethrow_exception(h_.promise().exception);
    return std::move(*h_.promise().value);
  }

  // False for a default-constructed (or moved-from) task.
  explicit operator bool() const { return static_cast<bool>(h_); }
  // For the room, which drives top-level tasks.
  Handle handle() const { return h_; }
  bool done() const { return h_ && h_.done(); }

 private:
  Handle h_;
};

}  // namespace rooms
