package kclient

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

func TestParseSeeds(t *testing.T) {
	for in, want := range map[string][]string{
		"127.0.0.1:9092":          {"127.0.0.1:9092"},
		"a, b:9093 ,":             {"a:9092", "b:9093"},
		"[::1]:19092,::1,kafka-0": {"[::1]:19092", "[::1]:9092", "kafka-0:9092"},
	} {
		got, err := ParseSeeds(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", " , ", "[::1"} {
		if _, err := ParseSeeds(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestConnect(t *testing.T) {
	c, err := kfake.NewCluster(kfake.Ports(0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	adm, err := ConnectAdmin(context.Background(), Config{Seeds: c.ListenAddrs(), RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if _, err := adm.ListBrokers(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestConnectUnreachable(t *testing.T) {
	_, err := Connect(context.Background(), Config{Seeds: []string{"127.0.0.1:1"}, RequestTimeout: 2 * time.Second})
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
}
