#include "curl_easy.h"

namespace isc {
namespace remote_options {

namespace {

size_t onData(char* data, size_t size, size_t nmemb, void* user) {
    CurlSink* sink = static_cast<CurlSink*>(user);
    size_t n = size * nmemb;
    if (sink->body->size() + n > sink->cap) {
        sink->overflow = true;
        return (0);   // aborts the transfer with CURLE_WRITE_ERROR
    }
    sink->body->append(data, n);
    return (n);
}

}  // namespace

CURL* newCurlEasy(const CurlOptions& opts, const CurlAuth& auth) {
    CURL* h = curl_easy_init();
    if (!h) {
        return (h);
    }
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    // On a timeout during name resolution, detach the resolver thread instead of joining it: the
    // call returns at its connect timeout; the thread ends when getaddrinfo does.
    curl_easy_setopt(h, CURLOPT_QUICK_EXIT, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, opts.connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, opts.request_timeout_ms);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(opts.max_body_bytes));
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_DNS_CACHE_TIMEOUT, 60L);
    curl_easy_setopt(h, CURLOPT_MAXCONNECTS, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "kea-remote-options/1");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, onData);
    auth.apply(h);
    return (h);
}

void aimCurlEasy(CURL* h, const std::string& url, CurlSink* sink, char* errbuf) {
    errbuf[0] = 0;
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_WRITEDATA, sink);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
}

void curlResult(CURL* h, CURLcode rc, const CurlSink& sink, const char* errbuf, FetchResult& out) {
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out.status);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, static_cast<char*>(0));
    curl_easy_setopt(h, CURLOPT_WRITEDATA, static_cast<void*>(0));
    if (rc == CURLE_OK) {
        out.kind = (out.status == 200 ? FetchResult::Ok : FetchResult::HttpStatus);
    } else if (sink.overflow || rc == CURLE_FILESIZE_EXCEEDED) {
        out.kind = FetchResult::TooLarge;
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        out.kind = FetchResult::Timeout;
    } else {
        out.kind = FetchResult::Connect;
        out.error = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    }
    if (out.kind != FetchResult::Ok) {
        out.body.clear();
    }
}

}  // namespace remote_options
}  // namespace isc
