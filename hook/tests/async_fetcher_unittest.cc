// CurlMultiFetcher against a loopback HTTP server that answers each connection after a delay on its
// own thread: concurrent calls overlap on the fetcher's one thread, a hung server times out, a
// closed port fails fast, stop() abandons what is in flight without running its completion.
#include "async_fetcher.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace isc::remote_options;

namespace {

typedef std::chrono::steady_clock Steady;

/// Answers every request after `delay_ms` (a negative delay: never), one thread per connection.
class DelayedServer {
public:
    explicit DelayedServer(int delay_ms) : delay_ms_(delay_ms) {
        fd_ = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(0, bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)));
        EXPECT_EQ(0, listen(fd_, 64));
        socklen_t len = sizeof(addr);
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        acceptor_ = std::thread([this] { run(); });
    }
    ~DelayedServer() {
        stop_ = true;
        shutdown(fd_, SHUT_RDWR);
        acceptor_.join();
        for (auto& t : workers_) {
            t.join();
        }
        close(fd_);
    }
    std::string url() const { return ("http://127.0.0.1:" + std::to_string(port_) + "/v1/dhcp/options?x=1"); }
    int accepted() const { return (accepted_.load()); }

private:
    void run() {
        while (!stop_) {
            int c = accept(fd_, 0, 0);
            if (c < 0) {
                return;
            }
            ++accepted_;
            workers_.emplace_back([this, c] { serve(c); });
        }
    }
    void serve(int c) {
        char buf[4096];
        while (!stop_ && recv(c, buf, sizeof(buf), 0) > 0) {
            if (delay_ms_ < 0) {
                while (!stop_) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(10));
                }
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
            std::string body = R"({"66": "10.89.0.4"})";
            std::string out = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                + std::to_string(body.size()) + "\r\n\r\n" + body;
            send(c, out.data(), out.size(), MSG_NOSIGNAL);
        }
        close(c);
    }
    int delay_ms_;
    int fd_ = -1;
    uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<int> accepted_{0};
    std::thread acceptor_;
    std::vector<std::thread> workers_;
};

/// Collects completions; wait(n) blocks until n arrived (or 5 s).
struct Results {
    std::mutex m;
    std::condition_variable cv;
    std::vector<FetchResult> got;
    std::vector<std::thread::id> threads;
    AsyncGet::Done done() {
        return ([this](const FetchResult& r) {
            std::lock_guard<std::mutex> lock(m);
            got.push_back(r);
            threads.push_back(std::this_thread::get_id());
            cv.notify_all();
        });
    }
    bool wait(size_t n) {
        std::unique_lock<std::mutex> lock(m);
        return (cv.wait_for(lock, std::chrono::seconds(5), [&] { return (got.size() >= n); }));
    }
};

CurlOptions options(long request_ms) {
    CurlOptions o;
    o.connect_timeout_ms = 200;
    o.request_timeout_ms = request_ms;
    o.max_body_bytes = 4096;
    return (o);
}

long msSince(Steady::time_point t0) {
    return (static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - t0).count()));
}

TEST(AsyncFetcherTest, ConcurrentSlowCallsOverlapOnOneThread) {
    DelayedServer server(300);
    CurlMultiFetcher fetcher(options(2000));
    Results results;
    Steady::time_point t0 = Steady::now();
    for (int i = 0; i < 6; ++i) {
        ASSERT_TRUE(fetcher.start(server.url(), results.done()));
    }
    long started_ms = msSince(t0);
    EXPECT_LT(started_ms, 50);   // start() never waits for the backend
    ASSERT_TRUE(results.wait(6));
    long took = msSince(t0);
    EXPECT_GE(took, 290);
    EXPECT_LT(took, 1200);       // six 300 ms calls in parallel, not 1.8 s in a row
    for (const FetchResult& r : results.got) {
        EXPECT_EQ(FetchResult::Ok, r.kind) << r.error;
        EXPECT_EQ(R"({"66": "10.89.0.4"})", r.body);
    }
    for (const auto& id : results.threads) {
        EXPECT_EQ(results.threads[0], id);   // every completion on the fetcher's one thread
        EXPECT_NE(std::this_thread::get_id(), id);
    }
}

// Only a GET that finds the queue empty wakes the fetcher's thread: bursts from several threads after
// the thread has gone back to sleep must all be taken, none left for the poll's 1 s ceiling.
TEST(AsyncFetcherTest, BurstsFromSeveralThreadsAreAllTakenPromptly) {
    DelayedServer server(0);
    CurlMultiFetcher fetcher(options(2000));
    Results results;
    size_t expected = 0;
    for (int round = 0; round < 8; ++round) {
        std::this_thread::sleep_for(std::chrono::milliseconds(30));   // the thread back in its poll
        Steady::time_point t0 = Steady::now();
        std::vector<std::thread> callers;
        for (int c = 0; c < 4; ++c) {
            callers.emplace_back([&] {
                for (int i = 0; i < 5; ++i) {
                    EXPECT_TRUE(fetcher.start(server.url(), results.done()));
                }
            });
        }
        for (auto& t : callers) {
            t.join();
        }
        expected += 20;
        ASSERT_TRUE(results.wait(expected)) << "round " << round;
        EXPECT_LT(msSince(t0), 700) << "round " << round << ": a GET waited for the poll's ceiling";
    }
    std::lock_guard<std::mutex> lock(results.m);
    for (const FetchResult& r : results.got) {
        EXPECT_EQ(FetchResult::Ok, r.kind) << r.error;
    }
}

TEST(AsyncFetcherTest, HungServerTimesOutAtTheRequestTimeout) {
    DelayedServer server(-1);
    CurlMultiFetcher fetcher(options(300));
    Results results;
    Steady::time_point t0 = Steady::now();
    ASSERT_TRUE(fetcher.start(server.url(), results.done()));
    ASSERT_TRUE(results.wait(1));
    long took = msSince(t0);
    EXPECT_EQ(FetchResult::Timeout, results.got[0].kind);
    EXPECT_GE(took, 280);
    EXPECT_LT(took, 800);
}

TEST(AsyncFetcherTest, ClosedPortIsAConnectFailure) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    close(fd);   // nothing listens there now
    CurlMultiFetcher fetcher(options(500));
    Results results;
    ASSERT_TRUE(fetcher.start("http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/", results.done()));
    ASSERT_TRUE(results.wait(1));
    EXPECT_EQ(FetchResult::Connect, results.got[0].kind);
}

TEST(AsyncFetcherTest, StopAbandonsCallsInFlight) {
    DelayedServer server(-1);
    Results results;
    {
        CurlMultiFetcher fetcher(options(5000));
        ASSERT_TRUE(fetcher.start(server.url(), results.done()));
        ASSERT_TRUE(fetcher.start(server.url(), results.done()));
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        Steady::time_point t0 = Steady::now();
        fetcher.stop();
        EXPECT_LT(msSince(t0), 500);   // does not wait out the 5 s timeout
        EXPECT_FALSE(fetcher.start(server.url(), results.done()));
        fetcher.stop();                 // idempotent
    }
    std::lock_guard<std::mutex> lock(results.m);
    EXPECT_TRUE(results.got.empty());
}

}  // namespace

TEST(AsyncFetcherTest, RoundsOfCallsReuseTheirKeptAliveConnections) {
    // 10 rounds of 16 calls at once: the connection cache keeps max_connections connections, so the
    // later rounds reuse the first round's instead of opening (and closing) new ones.
    DelayedServer server(5);
    CurlOptions o = options(2000);
    o.max_connections = 16;
    CurlMultiFetcher fetcher(o);
    Results results;
    for (size_t round = 1; round <= 10; ++round) {
        for (int i = 0; i < 16; ++i) {
            ASSERT_TRUE(fetcher.start(server.url(), results.done()));
        }
        ASSERT_TRUE(results.wait(16 * round));
    }
    for (const FetchResult& r : results.got) {
        EXPECT_EQ(FetchResult::Ok, r.kind) << r.error;
    }
    EXPECT_LE(server.accepted(), 16);
}
