// CurlFetcher against a scripted HTTP server on 127.0.0.1: status handling, keep-alive reuse,
// no redirects, the body cap, a server that accepts and never answers, a closed port.
#include "fetcher.h"

#include <gtest/gtest.h>

#include <algorithm>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

using namespace isc::remote_options;

namespace {

/// A one-thread HTTP/1.1 server: reads a request head, writes reply(path) (raw bytes, or
/// nothing when it returns "HANG"), keeps the connection for the next request.
class ScriptedServer {
public:
    explicit ScriptedServer(std::function<std::string(const std::string&)> reply) : reply_(reply) {
        fd_ = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = 0;
        EXPECT_EQ(0, bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)));
        EXPECT_EQ(0, listen(fd_, 16));
        socklen_t len = sizeof(addr);
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this] { run(); });
    }
    ~ScriptedServer() {
        stop_ = true;
        thread_.join();
        close(fd_);
    }
    std::string url(const std::string& path) const {
        return ("http://127.0.0.1:" + std::to_string(port_) + path);
    }
    std::atomic<int> accepted{0};
    std::atomic<int> requests{0};

private:
    void run() {
        std::vector<int> conns;
        while (!stop_) {
            std::vector<pollfd> fds{{fd_, POLLIN, 0}};
            for (int c : conns) {
                fds.push_back({c, POLLIN, 0});
            }
            if (poll(fds.data(), fds.size(), 50) <= 0) {
                continue;
            }
            if (fds[0].revents & POLLIN) {
                int c = accept(fd_, 0, 0);
                if (c >= 0) {
                    ++accepted;
                    conns.push_back(c);
                }
            }
            for (size_t i = 1; i < fds.size(); ++i) {
                if (!(fds[i].revents & (POLLIN | POLLHUP))) {
                    continue;
                }
                int c = fds[i].fd;
                char buf[4096];
                ssize_t n = recv(c, buf, sizeof(buf), 0);
                if (n <= 0) {
                    close(c);
                    conns.erase(std::find(conns.begin(), conns.end(), c));
                    continue;
                }
                std::string head(buf, static_cast<size_t>(n));
                size_t sp1 = head.find(' ');
                size_t sp2 = head.find(' ', sp1 + 1);
                std::string path = head.substr(sp1 + 1, sp2 - sp1 - 1);
                ++requests;
                std::string out = reply_(path);
                if (out == "HANG") {
                    continue;
                }
                size_t off = 0;
                while (off < out.size()) {
                    ssize_t w = send(c, out.data() + off, out.size() - off, MSG_NOSIGNAL);
                    if (w <= 0) {
                        break;
                    }
                    off += static_cast<size_t>(w);
                }
            }
        }
        for (int c : conns) {
            close(c);
        }
    }

    std::function<std::string(const std::string&)> reply_;
    int fd_ = -1;
    uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

std::string response(int status, const std::string& body, const std::string& extra = "") {
    return ("HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\n"
            "Content-Length: " + std::to_string(body.size()) + "\r\n" + extra + "\r\n" + body);
}

CurlOptions options() {
    CurlOptions o;
    o.connect_timeout_ms = 500;
    o.request_timeout_ms = 500;
    o.max_body_bytes = 4096;
    return (o);
}

TEST(FetcherTest, OkAndKeepAlive) {
    ScriptedServer server([](const std::string&) { return (response(200, R"({"66": "10.89.0.4"})")); });
    CurlFetcher fetcher(options());
    for (int i = 0; i < 5; ++i) {
        FetchResult r = fetcher.get(server.url("/v1/dhcp/options?sub82_1=01"));
        ASSERT_EQ(FetchResult::Ok, r.kind) << r.error;
        EXPECT_EQ(200, r.status);
        EXPECT_EQ(R"({"66": "10.89.0.4"})", r.body);
    }
    EXPECT_EQ(5, server.requests.load());
    EXPECT_EQ(1, server.accepted.load());   // one connection reused
}

TEST(FetcherTest, StatusAndNoRedirects) {
    ScriptedServer server([](const std::string& path) {
        if (path == "/loop") {
            return (response(302, "", "Location: /loop\r\n"));
        }
        return (response(503, "busy"));
    });
    CurlFetcher fetcher(options());
    FetchResult r = fetcher.get(server.url("/loop"));
    EXPECT_EQ(FetchResult::HttpStatus, r.kind);
    EXPECT_EQ(302, r.status);
    EXPECT_EQ(1, server.requests.load());   // never followed
    r = fetcher.get(server.url("/x"));
    EXPECT_EQ(FetchResult::HttpStatus, r.kind);
    EXPECT_EQ(503, r.status);
    EXPECT_TRUE(r.body.empty());
}

TEST(FetcherTest, BodyCap) {
    ScriptedServer server([](const std::string& path) {
        std::string big(10 * 1024 * 1024, 'a');
        if (path == "/declared") {
            return (response(200, big));
        }
        // No length: streamed until close.
        return ("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + big);
    });
    CurlFetcher fetcher(options());
    EXPECT_EQ(FetchResult::TooLarge, fetcher.get(server.url("/declared")).kind);
    EXPECT_EQ(FetchResult::TooLarge, fetcher.get(server.url("/streamed")).kind);
}

TEST(FetcherTest, AcceptsAndNeverAnswers) {
    ScriptedServer server([](const std::string&) { return (std::string("HANG")); });
    CurlFetcher fetcher(options());
    FetchResult r = fetcher.get(server.url("/"));
    EXPECT_EQ(FetchResult::Timeout, r.kind);
}

TEST(FetcherTest, ClosedPort) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(0, bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)));
    socklen_t len = sizeof(addr);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    int port = ntohs(addr.sin_port);
    close(fd);   // bound, never listened: connection refused
    CurlFetcher fetcher(options());
    FetchResult r = fetcher.get("http://127.0.0.1:" + std::to_string(port) + "/");
    EXPECT_EQ(FetchResult::Connect, r.kind);
    EXPECT_FALSE(r.error.empty());
}

TEST(FetcherTest, ConcurrentCallers) {
    ScriptedServer server([](const std::string&) { return (response(200, "{}")); });
    CurlFetcher fetcher(options());
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 10; ++i) {
                if (fetcher.get(server.url("/")).kind == FetchResult::Ok) {
                    ++ok;
                }
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    EXPECT_EQ(40, ok.load());
    EXPECT_LE(server.accepted.load(), 4);   // at most one connection per pooled handle
}

}  // namespace
