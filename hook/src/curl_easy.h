// One libcurl easy handle as the hook uses it, shared by the blocking fetcher (fetcher.cc) and the
// asynchronous one (async_fetcher.cc), so both paths make the same request and read the same result.
#ifndef REMOTE_OPTIONS_CURL_EASY_H
#define REMOTE_OPTIONS_CURL_EASY_H

#include "auth.h"
#include "fetcher.h"

#include <curl/curl.h>

#include <string>

namespace isc {
namespace remote_options {

/// Where a transfer's body goes, with the max-body-bytes cap.
struct CurlSink {
    std::string* body = nullptr;
    size_t cap = 0;
    bool overflow = false;
};

/// A new easy handle with the hook's fixed options (no signals, no redirects, http/https only,
/// connect and total timeouts, body cap, keep-alive) and the hook's credential (bearer header, TLS files:
/// auth.h), so the blocking and the parked path authenticate alike; null when libcurl cannot make one.
CURL* newCurlEasy(const CurlOptions& opts, const CurlAuth& auth);

/// Points a handle at one request: its URL, its sink, its error buffer (CURL_ERROR_SIZE bytes).
void aimCurlEasy(CURL* h, const std::string& url, CurlSink* sink, char* errbuf);

/// The FetchResult of a finished transfer (rc: its CURLcode); the body in `out` is kept only for Ok.
/// Detaches the sink and the error buffer from the handle, so it can be reused.
void curlResult(CURL* h, CURLcode rc, const CurlSink& sink, const char* errbuf, FetchResult& out);

}  // namespace remote_options
}  // namespace isc

#endif
