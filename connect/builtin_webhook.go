package connect

import _ "github.com/sluicehq/sluice/connectors/webhook"
