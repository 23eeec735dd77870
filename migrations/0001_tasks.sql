CREATE TABLE `task_events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`task_id` integer NOT NULL,
	`at` integer NOT NULL,
	`from_state` text,
	`to_state` text NOT NULL,
	`message` text DEFAULT '' NOT NULL,
	`actor` text NOT NULL,
	FOREIGN KEY (`task_id`) REFERENCES `tasks`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `task_events_task_idx` ON `task_events` (`task_id`,`at`);--> statement-breakpoint
CREATE TABLE `tasks` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`host_id` integer NOT NULL,
	`profile_id` integer NOT NULL,
	`state` text NOT NULL,
	`batch` text,
	`comment` text DEFAULT '' NOT NULL,
	`not_before` integer,
	`expires_at` integer,
	`on_failure` text DEFAULT 'local' NOT NULL,
	`max_retries` integer DEFAULT 0 NOT NULL,
	`attempt` integer DEFAULT 1 NOT NULL,
	`message` text DEFAULT '' NOT NULL,
	`nonce` text NOT NULL,
	`version` integer DEFAULT 1 NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`served_at` integer,
	`started_at` integer,
	`finished_at` integer,
	FOREIGN KEY (`host_id`) REFERENCES `hosts`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`profile_id`) REFERENCES `profiles`(`id`) ON UPDATE no action ON DELETE restrict
);
--> statement-breakpoint
CREATE INDEX `tasks_host_state_idx` ON `tasks` (`host_id`,`state`);--> statement-breakpoint
CREATE INDEX `tasks_state_idx` ON `tasks` (`state`);--> statement-breakpoint
ALTER TABLE `hosts` ADD `labels` text DEFAULT '[]' NOT NULL;--> statement-breakpoint
ALTER TABLE `hosts` ADD `secrets` text DEFAULT '{}' NOT NULL;--> statement-breakpoint
ALTER TABLE `hosts` ADD `menu_mode` text DEFAULT 'never' NOT NULL;--> statement-breakpoint
ALTER TABLE `hosts` ADD `menu_timeout` integer DEFAULT 5 NOT NULL;--> statement-breakpoint
ALTER TABLE `hosts` ADD `menu_profiles` text DEFAULT '[]' NOT NULL;--> statement-breakpoint
ALTER TABLE `hosts` ADD `version` integer DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE `profiles` ADD `secrets` text DEFAULT '{}' NOT NULL;