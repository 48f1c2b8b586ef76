// cesend sends one CloudEvent with the CloudEvents Go SDK (github.com/cloudevents/sdk-go/v2), in
// binary or structured content mode, and prints the HTTP status of the answer. The black-box
// tests use it as a second, independent sender.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

func main() {
	target := flag.String("target", "", "receiver URL")
	mode := flag.String("mode", "binary", "binary or structured")
	id := flag.String("id", "", "event id")
	eventType := flag.String("type", "", "event type")
	source := flag.String("source", "", "event source")
	subject := flag.String("subject", "", "event subject (optional)")
	extension := flag.String("extension", "", "name=value of one extension attribute (optional)")
	data := flag.String("data", "{}", "the event data, JSON")
	flag.Parse()

	event := cloudevents.NewEvent()
	event.SetID(*id)
	event.SetType(*eventType)
	event.SetSource(*source)
	if *subject != "" {
		event.SetSubject(*subject)
	}
	if *extension != "" {
		for i := 0; i < len(*extension); i++ {
			if (*extension)[i] == '=' {
				event.SetExtension((*extension)[:i], (*extension)[i+1:])
				break
			}
		}
	}
	var value interface{}
	if err := json.Unmarshal([]byte(*data), &value); err != nil {
		fmt.Fprintln(os.Stderr, "cesend: -data is not JSON:", err)
		os.Exit(2)
	}
	if err := event.SetData(cloudevents.ApplicationJSON, value); err != nil {
		fmt.Fprintln(os.Stderr, "cesend:", err)
		os.Exit(2)
	}

	ctx := cloudevents.ContextWithTarget(context.Background(), *target)
	if *mode == "structured" {
		ctx = binding.WithForceStructured(ctx)
	} else {
		ctx = binding.WithForceBinary(ctx)
	}
	client, err := cloudevents.NewClientHTTP()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cesend:", err)
		os.Exit(1)
	}
	result := client.Send(ctx, event)
	var httpResult *cehttp.Result
	if cloudevents.ResultAs(result, &httpResult) {
		fmt.Println(httpResult.StatusCode)
		return
	}
	fmt.Fprintln(os.Stderr, "cesend: no HTTP answer:", result)
	os.Exit(1)
}
