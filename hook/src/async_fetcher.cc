#include "async_fetcher.h"

#include <algorithm>

namespace isc {
namespace remote_options {

struct CurlMultiFetcher::Transfer {
    std::string url;
    Done done;
    CURL* easy = nullptr;
    FetchResult result;
    CurlSink sink;
    char errbuf[CURL_ERROR_SIZE];
};

CurlMultiFetcher::CurlMultiFetcher(const CurlOptions& opts)
    : opts_(opts), auth_(opts.auth), multi_(curl_multi_init()), stopped_(false), stop_(false) {
    if (!multi_) {
        stopped_ = true;   // start() refuses; the parked path then falls back to the failure policy
        return;
    }
    thread_ = std::thread([this] { run(); });
}

CurlMultiFetcher::~CurlMultiFetcher() {
    stop();
    for (Transfer* t : active_) {
        curl_multi_remove_handle(static_cast<CURLM*>(multi_), t->easy);
        curl_easy_cleanup(t->easy);
        delete t;
    }
    for (CURL* h : idle_) {
        curl_easy_cleanup(h);
    }
    if (multi_) {
        curl_multi_cleanup(static_cast<CURLM*>(multi_));
    }
}

bool CurlMultiFetcher::start(const std::string& url, Done done) {
    std::unique_ptr<Transfer> t(new Transfer());
    t->url = url;
    t->done = std::move(done);
    bool first = false;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopped_) {
            return (false);
        }
        first = queued_.empty();
        queued_.push_back(std::move(t));
    }
    // Only the GET that finds the queue empty wakes the thread: a later one, queued before the thread
    // took the queue, goes with it (the first one's wake-up is still pending or the thread is not asleep).
    // Under load this saves a write and a context switch for most GETs.
    if (first) {
        curl_multi_wakeup(static_cast<CURLM*>(multi_));
    }
    return (true);
}

void CurlMultiFetcher::stop() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopped_ = true;
    }
    stop_ = true;
    if (thread_.joinable()) {
        curl_multi_wakeup(static_cast<CURLM*>(multi_));
        thread_.join();
    }
    std::lock_guard<std::mutex> lock(mutex_);
    queued_.clear();
}

void CurlMultiFetcher::launch(std::unique_ptr<Transfer> t) {
    CURL* h = nullptr;
    if (!idle_.empty()) {
        h = idle_.back();
        idle_.pop_back();
    } else {
        h = newCurlEasy(opts_, auth_);
    }
    if (!h) {
        t->result.kind = FetchResult::Connect;
        t->result.error = "curl_easy_init failed";
        t->done(t->result);
        return;
    }
    t->easy = h;
    t->sink.body = &t->result.body;
    t->sink.cap = opts_.max_body_bytes;
    aimCurlEasy(h, t->url, &t->sink, t->errbuf);
    curl_easy_setopt(h, CURLOPT_PRIVATE, t.get());
    if (curl_multi_add_handle(static_cast<CURLM*>(multi_), h) != CURLM_OK) {
        t->result.kind = FetchResult::Connect;
        t->result.error = "curl_multi_add_handle failed";
        idle_.push_back(h);
        t->done(t->result);
        return;
    }
    active_.push_back(t.release());
}

void CurlMultiFetcher::reap() {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(static_cast<CURLM*>(multi_), &left)) {
        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        CURL* h = msg->easy_handle;
        CURLcode rc = msg->data.result;   // read before the handle leaves the multi
        Transfer* raw = nullptr;
        curl_easy_getinfo(h, CURLINFO_PRIVATE, reinterpret_cast<char**>(&raw));
        curl_multi_remove_handle(static_cast<CURLM*>(multi_), h);
        active_.erase(std::remove(active_.begin(), active_.end(), raw), active_.end());
        std::unique_ptr<Transfer> t(raw);
        curlResult(h, rc, t->sink, t->errbuf, t->result);
        idle_.push_back(h);
        try {
            t->done(t->result);
        } catch (...) {
            // done is the parked path's completion, which catches its own errors; nothing to add here
        }
    }
}

void CurlMultiFetcher::run() {
    CURLM* multi = static_cast<CURLM*>(multi_);
    while (!stop_) {
        std::vector<std::unique_ptr<Transfer>> batch;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            batch.swap(queued_);
        }
        for (auto& t : batch) {
            launch(std::move(t));
        }
        int running = 0;
        curl_multi_perform(multi, &running);
        reap();
        if (stop_) {
            break;
        }
        // Sleeps until a socket is ready, a libcurl timer is due (timeouts included) or start()/stop()
        // wakes it; 1 s is only a ceiling.
        curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
    }
}

}  // namespace remote_options
}  // namespace isc
