// A process-wide pool of worker threads for attend(): starting threads per call costs ~27 µs
// (measured), more than a whole decode step of a short context.
#pragma once

#include <cstddef>
#include <functional>

namespace veloxquant {

// Runs task(w) for every w in [0, workers): w = 0 on the calling thread, the others on pooled
// threads (created on first use, kept until exit). Returns when all are done and rethrows the
// first exception of a task. Calls from several threads at once are safe: a call that finds the
// pool busy runs its tasks on threads of its own.
void run_on_workers(std::size_t workers, const std::function<void(std::size_t)>& task);

}  // namespace veloxquant
