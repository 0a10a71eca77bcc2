// Backend HTTP GET: the interface the engine uses, and its libcurl implementation.
#ifndef REMOTE_OPTIONS_FETCHER_H
#define REMOTE_OPTIONS_FETCHER_H

#include "auth.h"

#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

namespace isc {
namespace remote_options {

struct FetchResult {
    enum Kind { Ok, Timeout, Connect, HttpStatus, TooLarge };
    Kind kind = Connect;
    long status = 0;        ///< HTTP status when one was received
    std::string body;       ///< for Ok
    std::string error;      ///< transport error text
};

class Fetcher {
public:
    virtual ~Fetcher() {}
    /// One GET. Must be callable from several threads at once and never throw.
    virtual FetchResult get(const std::string& url) = 0;
};

struct CurlOptions {
    long connect_timeout_ms = 200;
    long request_timeout_ms = 500;
    size_t max_body_bytes = 65536;
    AuthConfig auth;      ///< Authorization header and TLS files on every call
    unsigned max_connections = 0;   ///< kept-alive connections of the parked path (0: libcurl's default)
};

/// libcurl with a pool of easy handles: each call borrows one (keeping its keep-alive connection
/// and DNS cache), so connections are reused and at most max-concurrent-requests exist.
/// No signals, no redirects, http/https only, connect and total timeouts, a body size cap.
class CurlFetcher : public Fetcher {
public:
    explicit CurlFetcher(const CurlOptions& opts);
    ~CurlFetcher();
    FetchResult get(const std::string& url) override;

    /// True when the linked libcurl resolves names in a thread and can abandon that thread on a
    /// timeout (CURLOPT_QUICK_EXIT, libcurl >= 7.87): name resolution bounded by the timeouts.
    static bool asyncDns();

private:
    void* borrow();
    void giveBack(void* handle);

    CurlOptions opts_;
    CurlAuth auth_;
    std::mutex mutex_;
    std::vector<void*> idle_;
};

}  // namespace remote_options
}  // namespace isc

#endif
