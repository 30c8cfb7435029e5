// Parallel loops with reductions whose result does not depend on the thread count.
//
// Work is cut into chunks by the caller's grain size alone, never by the number of
// threads; each chunk's partial result is kept in its slot and the slots are combined
// left to right on the calling thread. So `parallel_reduce` returns bitwise the same value
// at 1, 2 or 64 threads. Threads take chunks from a shared counter (dynamic balance).
//
// The threads are a process-wide pool, started on first use and kept: a kernel makes
// several parallel passes, and on a virtual machine a fresh thread (or an idle one woken
// from sleep) starts ~0.5 ms late, every pass. A pool thread waits for work spinning for
// 0.3 ms, then asleep. One caller uses the pool at a time; a second concurrent caller gets
// threads of its own, as does a child process after fork() (it gets a new pool).
//
// Thread count: `set_num_threads(n, true)` for kernels called from the calling thread only,
// else `set_num_threads(n)` (0 = all cores), else the GEOMKIT_NUM_THREADS environment
// variable, else std::thread::hardware_concurrency(). The per-thread setting lets an
// application run several kernels side by side, each on its own thread (the report runs
// two units at once at one thread each); results do not depend on it. A call made from inside
// a geomkit worker runs serially, so nested parallel kernels do not oversubscribe.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#endif

#include "../config.hpp"
#include "error.hpp"

namespace geomkit {

namespace detail {
inline std::atomic<int>& thread_setting() {
    static std::atomic<int> setting{0};
    return setting;
}
inline int& this_thread_setting() {
    thread_local int setting = 0;
    return setting;
}
inline bool& inside_worker() {
    thread_local bool inside = false;
    return inside;
}
inline int default_threads() {
    static const int from_env = [] {
        if (const char* env = std::getenv("GEOMKIT_NUM_THREADS")) {
            const int v = std::atoi(env);
            if (v > 0) return v;
        }
        return 0;
    }();
    if (from_env > 0) return from_env;
    const unsigned hw = std::thread::hardware_concurrency();
    return hw == 0 ? 1 : int(hw);
}
}  // namespace detail

// Sets the number of threads geomkit kernels use; 0 restores the default (all cores).
// With this_thread_only, only kernels called from the calling thread follow it, and 0
// makes them follow the process-wide setting again.
inline void set_num_threads(int threads, bool this_thread_only = false) {
    if (threads < 0) detail::fail("set_num_threads", "threads", "must be >= 0 (0 = all cores)", detail::concat(threads));
    if (this_thread_only)
        detail::this_thread_setting() = threads;
    else
        detail::thread_setting().store(threads);
}

// The number of threads a kernel called now, from this thread, would use.
inline int num_threads() {
    if (const int here = detail::this_thread_setting(); here > 0) return here;
    const int set = detail::thread_setting().load();
    return set > 0 ? set : detail::default_threads();
}

namespace detail {
// The persistent threads behind parallel_for. Each pool thread has its own mailbox, so a
// pass wakes exactly the threads it uses and a mailbox is rewritten only after its thread
// has reported the previous job done.
class thread_pool {
public:
    static thread_pool& instance() {
        thread_pool* p = current().load(std::memory_order_acquire);
        if (p) return *p;
        static std::mutex create;
        std::lock_guard<std::mutex> lock(create);
        p = current().load(std::memory_order_acquire);
        if (!p) {
            register_fork_handler();
            p = new thread_pool();  // never deleted: its threads live as long as the process
            current().store(p, std::memory_order_release);
        }
        return *p;
    }

    // Runs work() on the calling thread and on `helpers` pool threads, and returns when all
    // have returned; work must not throw. False (nothing run) when another caller holds
    // the pool.
    template <class Work>
    bool run(int helpers, Work& work) {
        std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
        if (!busy.owns_lock()) return false;
        // A mailbox joins the pool only once its thread runs (a failed start throws to
        // the caller and leaves no mailbox that nobody serves); the reserve keeps that
        // push_back from throwing.
        mailboxes_.reserve(std::size_t(std::max(helpers, 0)));
        while (int(mailboxes_.size()) < helpers) {
            std::unique_ptr<mailbox> box(new mailbox());
            std::thread(&thread_pool::serve, this, box.get()).detach();
            mailboxes_.push_back(std::move(box));
        }
        done_.store(0, std::memory_order_relaxed);
        for (int h = 0; h < helpers; ++h) {
            mailbox& box = *mailboxes_[std::size_t(h)];
            box.job = [](void* w) { (*static_cast<Work*>(w))(); };
            box.arg = &work;
            {
                std::lock_guard<std::mutex> lock(box.m);
                box.posted.fetch_add(1, std::memory_order_release);
            }
            box.cv.notify_one();
        }
        work();
        wait_until([&] { return done_.load(std::memory_order_acquire) == helpers; }, done_m_, done_cv_);
        return true;
    }

private:
    struct mailbox {
        std::atomic<std::uint64_t> posted{0};
        void (*job)(void*) = nullptr;
        void* arg = nullptr;
        std::mutex m;
        std::condition_variable cv;
    };

    static std::atomic<thread_pool*>& current() {
        static std::atomic<thread_pool*> p{nullptr};
        return p;
    }
    // A child process has only the thread that forked: it leaves the parent's pool (whose
    // threads it lacks) alone and starts its own.
    static void register_fork_handler() {
#if defined(__unix__) || defined(__APPLE__)
        (void)pthread_atfork(nullptr, nullptr, [] { current().store(nullptr, std::memory_order_relaxed); });
#endif
    }
    // Spins for 0.3 ms (yielding), then sleeps on cv until ready() holds.
    template <class Ready>
    static void wait_until(Ready&& ready, std::mutex& m, std::condition_variable& cv) {
        const auto start = std::chrono::steady_clock::now();
        while (!ready()) {
            if (std::chrono::steady_clock::now() - start > std::chrono::microseconds(300)) {
                std::unique_lock<std::mutex> lock(m);
                cv.wait(lock, ready);
                return;
            }
            std::this_thread::yield();
        }
    }
    void serve(mailbox* box) {
        for (std::uint64_t seen = 0;; ++seen) {
            wait_until([&] { return box->posted.load(std::memory_order_acquire) != seen; }, box->m, box->cv);
            box->job(box->arg);
            {
                std::lock_guard<std::mutex> lock(done_m_);
                done_.fetch_add(1, std::memory_order_release);
            }
            done_cv_.notify_one();
        }
    }

    std::mutex busy_;
    std::vector<std::unique_ptr<mailbox>> mailboxes_;
    std::atomic<int> done_{0};
    std::mutex done_m_;
    std::condition_variable done_cv_;
};
}  // namespace detail

// Runs body(chunk) for chunk in [0, n_chunks) on up to `threads` threads (0 = the
// setting above). Exceptions thrown by body are rethrown on the calling thread.
template <class Body>
void parallel_for(index_t n_chunks, Body&& body, int threads = 0) {
    if (n_chunks <= 0) return;
    int workers = threads > 0 ? threads : num_threads();
    if (detail::inside_worker()) workers = 1;
    workers = int(std::min<index_t>(workers, n_chunks));
    if (workers <= 1) {
        for (index_t c = 0; c < n_chunks; ++c) body(c);
        return;
    }
    std::atomic<index_t> next{0};
    std::exception_ptr failure;
    std::mutex failure_mutex;
    auto work = [&] {
        detail::inside_worker() = true;
        for (;;) {
            const index_t c = next.fetch_add(1, std::memory_order_relaxed);
            if (c >= n_chunks) break;
            try {
                body(c);
            } catch (...) {
                std::lock_guard<std::mutex> lock(failure_mutex);
                if (!failure) failure = std::current_exception();
                next.store(n_chunks);
            }
        }
        detail::inside_worker() = false;
    };
    if (!detail::thread_pool::instance().run(workers - 1, work)) {
        std::vector<std::thread> own;  // the pool is busy with another caller's loop
        own.reserve(std::size_t(workers - 1));
        for (int t = 1; t < workers; ++t) own.emplace_back(work);
        work();
        for (auto& th : own) th.join();
    }
    if (failure) std::rethrow_exception(failure);
}

// Deterministic reduction over [0, n): map(begin, end) -> T on chunks of `grain`
// elements, combined left to right with combine(T, T) -> T starting from `identity`.
template <class T, class Map, class Combine>
T parallel_reduce(index_t n, index_t grain, T identity, Map&& map, Combine&& combine,
                  int threads = 0) {
    if (n <= 0) return identity;
    grain = std::max<index_t>(grain, 1);
    const index_t n_chunks = (n + grain - 1) / grain;
    std::vector<T> partial(std::size_t(n_chunks), identity);
    parallel_for(
        n_chunks,
        [&](index_t c) {
            const index_t begin = c * grain;
            partial[std::size_t(c)] = map(begin, std::min(n, begin + grain));
        },
        threads);
    T result = identity;
    for (auto& p : partial) result = combine(result, p);
    return result;
}

}  // namespace geomkit
