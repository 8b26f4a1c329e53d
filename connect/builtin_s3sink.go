package connect

import _ "github.com/sluicehq/sluice/connectors/s3sink"
