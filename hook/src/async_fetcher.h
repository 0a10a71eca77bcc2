// Backend GETs that hold no caller: the interface the parked path uses, and its implementation on
// libcurl's multi interface driven by one thread the hook owns.
#ifndef REMOTE_OPTIONS_ASYNC_FETCHER_H
#define REMOTE_OPTIONS_ASYNC_FETCHER_H

#include "curl_easy.h"
#include "fetcher.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace isc {
namespace remote_options {

class AsyncGet {
public:
    typedef std::function<void(const FetchResult&)> Done;
    virtual ~AsyncGet() {}
    /// Starts one GET and returns at once; `done` runs later, once, on the fetcher's own thread (never
    /// on the caller's). False when the fetcher is stopped: `done` will never run.
    virtual bool start(const std::string& url, Done done) = 0;
    /// Ends the fetcher: transfers in flight are abandoned and their `done` never runs. When it
    /// returns no `done` is running or will run. Idempotent.
    virtual void stop() = 0;
};

/// libcurl multi on one thread: every curl call happens on that thread (start() only queues and
/// wakes it), so transfers share one connection cache and one DNS cache, and a slow backend costs
/// an open socket, not a thread. The easy handles are configured as the blocking fetcher's
/// (curl_easy.cc): the same timeouts, body cap and no-redirect rule, so a result means the same.
/// The thread waits in epoll and drives libcurl's socket interface (curl_multi_socket_action): a
/// wake-up costs what the ready sockets cost, not a pass over every transfer and socket in flight
/// (curl_multi_perform/curl_multi_poll), which made hundreds of parked calls on a slow backend
/// CPU-bound on this one thread. The connection cache holds max_connections kept-alive connections.
class CurlMultiFetcher : public AsyncGet {
public:
    explicit CurlMultiFetcher(const CurlOptions& opts);
    ~CurlMultiFetcher();
    bool start(const std::string& url, Done done) override;
    void stop() override;

private:
    struct Transfer;
    void run();
    void launch(std::unique_ptr<Transfer> t);
    void reap();
    void wake();
    int waitMs() const;
    static int onSocket(CURL* easy, curl_socket_t s, int what, void* self, void* socketp);
    static int onTimer(CURLM* multi, long timeout_ms, void* self);

    CurlOptions opts_;
    CurlAuth auth_;   ///< the bearer header and TLS files every handle carries
    void* multi_;
    int epoll_;                                      ///< the thread's sockets and the wake-up eventfd
    int wake_;                                       ///< eventfd: start() and stop() wake the thread
    bool timer_set_;                                 ///< the thread's own: libcurl asked for a timeout
    std::chrono::steady_clock::time_point timer_;    ///< ... due then
    std::mutex mutex_;                               ///< guards queued_ and stopped_
    std::vector<std::unique_ptr<Transfer>> queued_;
    bool stopped_;
    std::atomic<bool> stop_;
    std::vector<CURL*> idle_;                        ///< the thread's own: reused easy handles
    std::vector<Transfer*> active_;                  ///< the thread's own: transfers in the multi
    std::thread thread_;
};

}  // namespace remote_options
}  // namespace isc

#endif
