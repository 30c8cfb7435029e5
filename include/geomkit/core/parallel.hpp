// Parallel loops on plain std::thread with reductions whose result does not depend on
// the thread count.
//
// Work is cut into chunks by the caller's grain size alone, never by the number of
// threads; each chunk's partial result is kept in its slot and the slots are combined
// left to right on the calling thread. So `parallel_reduce` returns bitwise the same value
// at 1, 2 or 64 threads. Threads take chunks from a shared counter (dynamic balance).
//
// Thread count: `set_num_threads(n)` (0 = all cores), else the GEOMKIT_NUM_THREADS
// environment variable, else std::thread::hardware_concurrency(). A call made from inside
// a geomkit worker runs serially, so nested parallel kernels do not oversubscribe.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "error.hpp"

namespace geomkit {

namespace detail {
inline std::atomic<int>& thread_setting() {
    static std::atomic<int> setting{0};
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
inline void set_num_threads(int threads) {
    if (threads < 0) detail::fail("set_num_threads", "threads", "must be >= 0 (0 = all cores)", detail::concat(threads));
    detail::thread_setting().store(threads);
}

// The number of threads a kernel called now would use.
inline int num_threads() {
    const int set = detail::thread_setting().load();
    return set > 0 ? set : detail::default_threads();
}

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
    std::vector<std::thread> pool;
    pool.reserve(std::size_t(workers - 1));
    for (int t = 1; t < workers; ++t) pool.emplace_back(work);
    work();
    for (auto& th : pool) th.join();
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
