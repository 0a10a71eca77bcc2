#include "fetcher.h"

#include "curl_easy.h"

namespace isc {
namespace remote_options {

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
    return (newCurlEasy(opts_, auth_));
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
    CurlSink sink;
    sink.body = &out.body;
    sink.cap = opts_.max_body_bytes;
    char errbuf[CURL_ERROR_SIZE];
    aimCurlEasy(h, url, &sink, errbuf);
    CURLcode rc = curl_easy_perform(h);
    curlResult(h, rc, sink, errbuf, out);
    giveBack(h);
    return (out);
}

}  // namespace remote_options
}  // namespace isc
