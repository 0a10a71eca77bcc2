#include "async_fetcher.h"

#include <algorithm>
#include <cstdint>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

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

namespace {

constexpr int MAX_WAIT_MS = 1000;   // the thread's longest sleep without a timer: only a ceiling
constexpr int EVENTS = 64;          // epoll events taken per wake-up

}  // namespace

CurlMultiFetcher::CurlMultiFetcher(const CurlOptions& opts)
    : opts_(opts), auth_(opts.auth), multi_(curl_multi_init()), epoll_(epoll_create1(EPOLL_CLOEXEC)),
      wake_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)), timer_set_(false), stopped_(false), stop_(false) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = wake_;
    if (!multi_ || epoll_ < 0 || wake_ < 0 || epoll_ctl(epoll_, EPOLL_CTL_ADD, wake_, &ev) != 0) {
        stopped_ = true;   // start() refuses; the parked path then falls back to the failure policy
        return;
    }
    CURLM* multi = static_cast<CURLM*>(multi_);
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &CurlMultiFetcher::onSocket);
    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &CurlMultiFetcher::onTimer);
    curl_multi_setopt(multi, CURLMOPT_TIMERDATA, this);
    if (opts_.max_connections > 0) {
        // libcurl's default keeps 4 x the handles added at the time, and a handle leaves the multi when
        // its call ends: under load the cache closed kept-alive connections that the next calls reopened
        curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, static_cast<long>(opts_.max_connections));
    }
    thread_ = std::thread([this] { run(); });
}

int CurlMultiFetcher::onSocket(CURL*, curl_socket_t s, int what, void* self, void*) {
    CurlMultiFetcher* me = static_cast<CurlMultiFetcher*>(self);
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(me->epoll_, EPOLL_CTL_DEL, s, nullptr);   // may be closed already: nothing to undo
        return (0);
    }
    epoll_event ev{};
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
    ev.data.fd = s;
    if (epoll_ctl(me->epoll_, EPOLL_CTL_MOD, s, &ev) != 0) {
        epoll_ctl(me->epoll_, EPOLL_CTL_ADD, s, &ev);   // a socket libcurl has not named before
    }
    return (0);
}

int CurlMultiFetcher::onTimer(CURLM*, long timeout_ms, void* self) {
    CurlMultiFetcher* me = static_cast<CurlMultiFetcher*>(self);
    me->timer_set_ = timeout_ms >= 0;
    if (me->timer_set_) {
        me->timer_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    }
    return (0);
}

int CurlMultiFetcher::waitMs() const {
    if (!timer_set_) {
        return (MAX_WAIT_MS);
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(timer_ - std::chrono::steady_clock::now());
    return (static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(MAX_WAIT_MS, left.count()))));
}

void CurlMultiFetcher::wake() {
    uint64_t one = 1;
    ssize_t n = write(wake_, &one, sizeof(one));   // a full counter is a wake-up pending anyway
    (void)n;
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
    if (wake_ >= 0) {
        close(wake_);
    }
    if (epoll_ >= 0) {
        close(epoll_);
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
        wake();
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
        wake();
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
    epoll_event events[EVENTS];
    int running = 0;
    while (!stop_) {
        std::vector<std::unique_ptr<Transfer>> batch;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            batch.swap(queued_);
        }
        for (auto& t : batch) {
            launch(std::move(t));   // libcurl asks for a timer at once: the timeout below starts it
        }
        // Sleeps until a socket is ready, a libcurl timer is due (timeouts included) or start()/stop()
        // writes the eventfd.
        int n = epoll_wait(epoll_, events, EVENTS, batch.empty() ? waitMs() : 0);
        if (stop_) {
            break;
        }
        for (int i = 0; i < n; ++i) {
            int fd = events[i].data.fd;
            if (fd == wake_) {
                uint64_t count = 0;
                ssize_t got = read(wake_, &count, sizeof(count));
                (void)got;
                continue;
            }
            uint32_t e = events[i].events;
            int mask = (e & EPOLLIN ? CURL_CSELECT_IN : 0) | (e & EPOLLOUT ? CURL_CSELECT_OUT : 0)
                | (e & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
            curl_multi_socket_action(multi, fd, mask, &running);
        }
        if (timer_set_ && std::chrono::steady_clock::now() >= timer_) {
            timer_set_ = false;   // libcurl sets the next one while it runs
            curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
        }
        reap();
    }
}

}  // namespace remote_options
}  // namespace isc
