#include "fetcher.h"

#include <curl/curl.h>

namespace isc {
namespace remote_options {

namespace {

struct Sink {
    std::string* body;
    size_t cap;
    bool overflow;
};

size_t onData(char* data, size_t size, size_t nmemb, void* user) {
    Sink* sink = static_cast<Sink*>(user);
    size_t n = size * nmemb;
    if (sink->body->size() + n > sink->cap) {
        sink->overflow = true;
        return (0);   // aborts the transfer with CURLE_WRITE_ERROR
    }
    sink->body->append(data, n);
    return (n);
}

}  // namespace

CurlFetcher::CurlFetcher(const CurlOptions& opts) : opts_(opts), auth_(opts.auth) {
}

CurlFetcher::~CurlFetcher() {
    for (void* h : idle_) {
        curl_easy_cleanup(static_cast<CURL*>(h));
    }
}

bool CurlFetcher::asyncDns() {
    const curl_version_info_data* info = curl_version_info(CURLVERSION_NOW);
    // A threaded resolver alone is not enough: on a timeout, libcurl joins the resolver thread
    // (waiting out getaddrinfo, 5-10 s with a silent DNS server) unless CURLOPT_QUICK_EXIT (7.87)
    // lets it abandon the thread.
    return (info && (info->features & CURL_VERSION_ASYNCHDNS) && info->version_num >= 0x075700);
}

void* CurlFetcher::borrow() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!idle_.empty()) {
            void* h = idle_.back();
            idle_.pop_back();
            return (h);
        }
    }
    CURL* h = curl_easy_init();
    if (!h) {
        return (0);
    }
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    // On a timeout during name resolution, detach the resolver thread instead of joining it: the
    // call returns at its connect timeout; the thread ends when getaddrinfo does.
    curl_easy_setopt(h, CURLOPT_QUICK_EXIT, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, opts_.connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, opts_.request_timeout_ms);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(opts_.max_body_bytes));
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_DNS_CACHE_TIMEOUT, 60L);
    curl_easy_setopt(h, CURLOPT_MAXCONNECTS, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "kea-remote-options/1");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, onData);
    auth_.apply(h);
    return (h);
}

void CurlFetcher::giveBack(void* handle) {
    std::lock_guard<std::mutex> lock(mutex_);
    idle_.push_back(handle);
}

FetchResult CurlFetcher::get(const std::string& url) {
    FetchResult out;
    CURL* h = static_cast<CURL*>(borrow());
    if (!h) {
        out.kind = FetchResult::Connect;
        out.error = "curl_easy_init failed";
        return (out);
    }
    Sink sink{&out.body, opts_.max_body_bytes, false};
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    char errbuf[CURL_ERROR_SIZE];
    errbuf[0] = 0;
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode rc = curl_easy_perform(h);
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
    giveBack(h);
    return (out);
}

}  // namespace remote_options
}  // namespace isc
